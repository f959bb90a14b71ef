import pg from 'pg';
import type { Logger } from '../logger.ts';

export type Pool = pg.Pool;

/**
 * The process's one connection pool. An idle client's error (the server restarting, say) is
 * logged rather than crashing the process; the next query gets a fresh connection.
 */
export function createPool(options: { url: string; logger: Logger; max?: number }): pg.Pool {
  const pool = new pg.Pool({ connectionString: options.url, max: options.max ?? 20 });
  pool.on('error', (error) => options.logger.warn({ err: error }, 'idle PostgreSQL client failed'));
  return pool;
}
