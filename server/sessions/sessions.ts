import { randomUUID } from 'node:crypto';
import type { Flash } from '../../protocol/events.ts';
import type { Pool } from '../db/pool.ts';
import type { Metrics } from '../metrics.ts';
import { activeSessionKeysSql } from './active-sessions.ts';
import { sessionFlashesSql, presentFlash, type FlashInput, type FlashRow } from './flash.ts';

/**
 * Any visitor's session, from outside a request: the seeds' `Session` model. Every operation
 * that changes flashes is one set-based statement, whatever the number of sessions, and never
 * reads sessions into JS to save them back.
 */

/** Who a flash is for. Session keys are `sessionKey(id)`, as stored. */
export type FlashTarget = 'all' | 'active' | { session: string } | { sessions: readonly string[] };

export interface StoredSession {
  key: string;
  data: Record<string, unknown>;
  expire: Date;
  flashes: Flash[];
}

export interface WrittenFlash {
  flash: Flash;
  /** How many sessions now hold it. */
  sessions: number;
  /** For list targets: the keys it reached (the rooms to push to). */
  reached?: string[];
}

export interface SessionStats {
  total: number;
  expired: number;
  active: number;
  carts: number;
}

interface SessionRow {
  sid: string;
  sess: Record<string, unknown>;
  expire: Date;
  flash: FlashRow[];
  /** The database's time: a countdown flash's seconds are counted on its clock. */
  now_ms: string;
}

const selectSession = `
  SELECT s.sid, s.sess, s.expire,
         ${sessionFlashesSql} AS flash,
         (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms
    FROM session s`;

function toStoredSession(row: SessionRow, now: number = Number(row.now_ms)): StoredSession {
  return { key: row.sid, data: row.sess, expire: row.expire, flashes: row.flash.map((f) => presentFlash(f, now)) };
}

/** The live sessions a target names, as a FROM-able subquery over `session s`. */
function targetFilter(target: FlashTarget): { where: string; params: unknown[] } {
  if (target === 'all') return { where: 's.expire > now()', params: [] };
  if (target === 'active') return { where: `s.expire > now() AND s.sid IN (${activeSessionKeysSql})`, params: [] };
  const keys = 'session' in target ? [target.session] : [...target.sessions];
  return { where: 's.expire > now() AND s.sid = ANY($5::text[])', params: [keys] };
}

/** `metrics`: counts the flashes written and acknowledged through it. */
export function createSessions(deps: { pool: Pool; metrics?: Pick<Metrics, 'flashesWritten' | 'flashesAcknowledged'> }) {
  const { pool, metrics } = deps;

  return {
    async find(key: string): Promise<StoredSession | undefined> {
      const { rows } = await pool.query<SessionRow>(`${selectSession} WHERE s.sid = $1 AND s.expire > now()`, [key]);
      return rows[0] ? toStoredSession(rows[0]) : undefined;
    },

    async stats(): Promise<SessionStats> {
      const { rows } = await pool.query<Record<keyof SessionStats, string>>(
        `SELECT (SELECT count(*) FROM session) AS total,
                (SELECT count(*) FROM session WHERE expire <= now()) AS expired,
                (SELECT count(*) FROM session s WHERE s.expire > now() AND s.sid IN (${activeSessionKeysSql})) AS active,
                (SELECT count(*) FROM carts) AS carts`,
      );
      const row = rows[0]!;
      return { total: Number(row.total), expired: Number(row.expired), active: Number(row.active), carts: Number(row.carts) };
    },

    /**
     * Writes one flash into every session the target names, replacing the flash under the
     * same key. One statement; every session reached gets the same flash id, so one
     * broadcast can carry it.
     */
    async writeFlash(target: FlashTarget, input: FlashInput): Promise<WrittenFlash> {
      const id = randomUUID();
      const { where, params } = targetFilter(target);
      const listTarget = typeof target === 'object';
      // ORDER BY s.sid: concurrent broadcasts lock the rows they upsert in one order, so two
      // of them (a promotion round and an ops push) cannot deadlock on each other.
      const { rows, rowCount } = await pool.query<{ session_sid: string }>(
        `INSERT INTO flashes (session_sid, key, id, message, data)
         SELECT s.sid, $1, $2, $3, $4 FROM session s WHERE ${where} ORDER BY s.sid
         ON CONFLICT (session_sid, key)
         DO UPDATE SET id = EXCLUDED.id, message = EXCLUDED.message, data = EXCLUDED.data, created_at = now()
         ${listTarget ? 'RETURNING session_sid' : ''}`,
        [input.key, id, input.message, input.data ?? null, ...params],
      );
      const flash = presentFlash({ id, key: input.key, message: input.message, data: input.data ?? null, created_at: new Date() });
      const written: WrittenFlash = { flash, sessions: rowCount ?? 0 };
      metrics?.flashesWritten.inc(written.sessions);
      if (listTarget) written.reached = rows.map((row) => row.session_sid);
      return written;
    },

    /** Acknowledgement: removes those flashes of one session. Unknown ids are ignored. */
    async removeFlashes(key: string, ids: readonly string[]): Promise<number> {
      if (ids.length === 0) return 0;
      const { rowCount } = await pool.query('DELETE FROM flashes WHERE session_sid = $1 AND id = ANY($2::uuid[])', [key, ids]);
      metrics?.flashesAcknowledged.inc(rowCount ?? 0);
      return rowCount ?? 0;
    },

    /** Removes the flash under one key from every session (the maintenance flash at zero). */
    async clearFlashKey(flashKey: string): Promise<number> {
      const { rowCount } = await pool.query('DELETE FROM flashes WHERE key = $1', [flashKey]);
      return rowCount ?? 0;
    },

    /** Ends a session from outside a request; what it owns goes with it (ON DELETE CASCADE). */
    async destroy(key: string): Promise<boolean> {
      const { rowCount } = await pool.query('DELETE FROM session WHERE sid = $1', [key]);
      return (rowCount ?? 0) > 0;
    },
  };
}

export type Sessions = ReturnType<typeof createSessions>;
