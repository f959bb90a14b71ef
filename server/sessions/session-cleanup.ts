import type { Pool } from '../db/pool.ts';

export interface CleanupResult {
  sessions: number;
  carts: number;
  batches: number;
}

/** A few thousand rows a statement: large enough to be cheap, small enough to keep locks short. */
export const CLEANUP_BATCH_SIZE = 5000;

/**
 * Deletes expired sessions in batches; ON DELETE CASCADE removes their flashes, carts, cart
 * items and presence in the same statement, so nothing is left orphaned.
 *
 * Safe to run in several processes at once: each batch locks its rows with SKIP LOCKED, so
 * two cleanups split the work instead of waiting on or failing over each other. It never
 * deletes a live session: the DELETE re-checks `expire`, and a request that extended the
 * session first makes the locked re-check see the new expiry.
 */
export async function cleanupExpiredSessions(
  pool: Pool,
  options: { batchSize?: number; onProgress?: (soFar: CleanupResult) => void } = {},
): Promise<CleanupResult> {
  const batchSize = options.batchSize ?? CLEANUP_BATCH_SIZE;
  const total: CleanupResult = { sessions: 0, carts: 0, batches: 0 };
  for (;;) {
    const { rows } = await pool.query<{ sessions: string; carts: string }>(
      `WITH doomed AS (
         SELECT sid FROM session WHERE expire <= now()
          ORDER BY expire LIMIT $1
            FOR UPDATE SKIP LOCKED
       ), gone AS (
         DELETE FROM session s USING doomed d
          WHERE s.sid = d.sid AND s.expire <= now()
         RETURNING s.sid
       )
       SELECT (SELECT count(*) FROM gone) AS sessions,
              (SELECT count(*) FROM carts c WHERE c.session_sid IN (SELECT sid FROM gone)) AS carts`,
      [batchSize],
    );
    const sessions = Number(rows[0]?.sessions ?? 0);
    total.sessions += sessions;
    total.carts += Number(rows[0]?.carts ?? 0);
    total.batches += 1;
    options.onProgress?.({ ...total });
    if (sessions < batchSize) return total;
  }
}
