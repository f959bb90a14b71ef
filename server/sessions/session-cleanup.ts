import type { Pool } from '../db/pool.ts';
import { sessionOwnedTables } from './session-owned-tables.ts';

export interface CleanupResult {
  sessions: number;
  carts: number;
  batches: number;
}

/** A few thousand rows a statement: large enough to be cheap, small enough to keep locks short. */
export const CLEANUP_BATCH_SIZE = 5000;

const keysOfBatch = '(SELECT sids FROM keys)::text[]';

/**
 * One batch. The foreign keys cascade row by row (one trigger call per deleted session and
 * owned table), which was most of a batch's time. The owned rows (session-owned-tables.ts)
 * are deleted here first, set by set, in the same statement; the cascades then find nothing
 * left to do, and still cover any owned table the registry were to miss. Keys go through
 * ANY(ARRAY(...)) so each DELETE is index lookups rather than a hash join over the whole table.
 */
const cleanupBatchSql = `WITH doomed AS (
    SELECT sid FROM session WHERE expire <= now()
     ORDER BY expire LIMIT $1
       FOR UPDATE SKIP LOCKED
  ), keys AS (
    SELECT ARRAY(SELECT sid FROM doomed) AS sids
  ), ${sessionOwnedTables
    .map(({ table, column }, i) => `owned_${i} AS (DELETE FROM ${table} WHERE ${column} = ANY(${keysOfBatch}) RETURNING 1)`)
    .join(', ')}, gone AS (
    DELETE FROM session s
     WHERE s.sid = ANY(${keysOfBatch}) AND s.expire <= now()
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM gone) AS sessions,
         (SELECT count(*) FROM owned_${sessionOwnedTables.findIndex(({ table }) => table === 'carts')}) AS carts`;

/**
 * Deletes expired sessions in batches, each with every row it owns (session-owned-tables.ts),
 * in the same statement, so nothing is left orphaned.
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
      text: cleanupBatchSql,
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
