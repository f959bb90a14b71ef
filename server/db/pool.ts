import pg from 'pg';
import type { Logger } from '../logger.ts';
import { errorSummary } from './outage-log.ts';

export type Pool = pg.Pool;

/**
 * A connection pool. An idle client's error (the server restarting, say) is noted at debug
 * level rather than crashing the process: the pool drops that client, the next query gets a
 * fresh connection, and the outage itself is logged once by the database health check.
 */
export function createPool(options: { url: string; logger: Logger; max?: number }): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 20,
    // While PostgreSQL is away a new connection fails at once (refused); when the pool is
    // exhausted, a request waits this long at most and then answers 503, rather than hang.
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', (error) => options.logger.debug({ error: errorSummary(error) }, 'an idle PostgreSQL connection failed'));
  return pool;
}

/** How one process's DATABASE_POOL_MAX connections are shared (README "Connections"). */
export interface PoolBudget {
  /** Requests, jobs, presence sweeps; with its LISTEN connections (maintenance view, Agenda). */
  main: number;
  /** Socket.IO's: handshakes, presence, the session follower, the adapter's LISTEN. 0 for a worker. */
  realtime: number;
}

export function poolBudget(total: number, role: 'all' | 'web' | 'worker'): PoolBudget {
  if (role === 'worker') return { main: total, realtime: 0 };
  // A quarter for Socket.IO, between 2 (one LISTEN, one query) and 4 (what the connect
  // storm benchmark needed: batched handshake checks run one at a time).
  const realtime = Math.min(4, Math.max(2, Math.floor(total / 4)));
  return { main: total - realtime, realtime };
}

const unavailableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Whether an error means "the database cannot be reached now" (refused, restarting, shut
 * down, connection lost, or no connection free in time) rather than a fault of the query: the
 * request that met it answers 503 with Retry-After, never 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (unavailableCodes.has(code)) return true;
    // 08xxx connection exceptions; 57P01-57P03 admin/crash shutdown, cannot connect now.
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') return true;
  }
  return (
    typeof message === 'string' &&
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection closed|not queryable/i.test(
      message,
    )
  );
}
