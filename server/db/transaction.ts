import type { PoolClient } from 'pg';
import type { Pool } from './pool.ts';

/**
 * Runs `work` in one transaction on one connection: COMMIT if it resolves, ROLLBACK if it
 * throws (and the error is rethrown). A connection whose ROLLBACK failed is broken (the
 * server went away mid-transaction) and is destroyed rather than returned to the pool.
 */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
