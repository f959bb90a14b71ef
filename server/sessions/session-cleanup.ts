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
    const { rows } = await pool.query<{ sessions: string; carts: string }>({
      name: 'flashcast-cleanup-batch',
      // The foreign keys cascade row by row (one trigger call per deleted session and owned
      // table), which was most of a batch's time. The owned rows are deleted here first, set
      // by set, in the same statement; the cascades then find nothing left to do, and still
      // cover any owned table this list does not name. Keys go through ANY(ARRAY(...)) so each
      // DELETE is index lookups rather than a hash join over the whole table.
      text: `WITH doomed AS (
               SELECT sid FROM session WHERE expire <= now()
                ORDER BY expire LIMIT $1
                  FOR UPDATE SKIP LOCKED
             ), keys AS (
               SELECT ARRAY(SELECT sid FROM doomed) AS sids
             ), items AS (
               DELETE FROM cart_items WHERE session_sid = ANY((SELECT sids FROM keys)::text[])
             ), carts_gone AS (
               DELETE FROM carts WHERE session_sid = ANY((SELECT sids FROM keys)::text[]) RETURNING 1
             ), flashes_gone AS (
               DELETE FROM flashes WHERE session_sid = ANY((SELECT sids FROM keys)::text[])
             ), presence_gone AS (
               DELETE FROM presence WHERE session_sid = ANY((SELECT sids FROM keys)::text[])
             ), deliveries_gone AS (
               DELETE FROM promotion_deliveries WHERE session_sid = ANY((SELECT sids FROM keys)::text[])
             ), gone AS (
               DELETE FROM session s
                WHERE s.sid = ANY((SELECT sids FROM keys)::text[]) AND s.expire <= now()
               RETURNING 1
             )
             SELECT (SELECT count(*) FROM gone) AS sessions, (SELECT count(*) FROM carts_gone) AS carts`,
      values: [batchSize],
    });
    const sessions = Number(rows[0]?.sessions ?? 0);
    total.sessions += sessions;
    total.carts += Number(rows[0]?.carts ?? 0);
    total.batches += 1;
    options.onProgress?.({ ...total });
    if (sessions < batchSize) return total;
  }
}
