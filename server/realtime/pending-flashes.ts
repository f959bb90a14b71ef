import type { Flash } from '../../protocol/events.ts';
import type { Pool } from '../db/pool.ts';
import { presentFlash, type FlashRow } from '../sessions/flash.ts';

/**
 * The flashes still pending (not acknowledged) in a set of sessions, read in one statement,
 * for sending them again over the sockets: a push whose NOTIFY found this process's LISTEN
 * connection down never reached its tabs, and NOTIFY is not stored. The widget shows each
 * flash id once per tab, so a flash a tab already has is not shown twice.
 */
export async function pendingFlashes(pool: Pool, sessionKeys: readonly string[]): Promise<Map<string, Flash[]>> {
  const bySession = new Map<string, Flash[]>();
  if (sessionKeys.length === 0) return bySession;
  const { rows } = await pool.query<FlashRow & { session_sid: string; now_ms: string }>(
    // The database's time, on which a countdown flash's seconds are counted.
    `SELECT f.session_sid, f.id, f.key, f.message, f.data, f.created_at,
            (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms
       FROM flashes f
      WHERE f.session_sid = ANY($1::text[])
      ORDER BY f.created_at`,
    [sessionKeys],
  );
  for (const row of rows) {
    const list = bySession.get(row.session_sid) ?? [];
    list.push(presentFlash(row, Number(row.now_ms)));
    bySession.set(row.session_sid, list);
  }
  return bySession;
}
