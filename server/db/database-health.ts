import type { Logger } from '../logger.ts';
import type { DatabaseClock } from './database-clock.ts';
import { createOutageLog } from './outage-log.ts';
import type { Metrics } from '../metrics.ts';
import type { Pool } from './pool.ts';

/**
 * Whether this process reaches its database, checked every second on the main pool. It
 * backs /readyz, logs an outage once (and its end once), measures the clock offset on the
 * way (database-clock.ts), and tells the components that must act at once when the
 * database is back (presence rewrites its rows, the maintenance view re-reads the state)
 * instead of waiting for their next period.
 */
export interface DatabaseHealth {
  /** True after the last check succeeded (and before the first one: a process starts only once its database answered). */
  isUp(): boolean;
  /** Called each time the database answers again after an outage; returns the unsubscribe. */
  onRecovered(listener: () => void): () => void;
  /** Checks now (also what the timer does). */
  check(): Promise<boolean>;
  close(): void;
}

export interface DatabaseHealthOptions {
  intervalMs?: number;
}

export function createDatabaseHealth(
  deps: { pool: Pool; logger: Logger; clock: DatabaseClock; metrics?: Pick<Metrics, 'databaseReconnects'> },
  options: DatabaseHealthOptions = {},
): DatabaseHealth {
  const { pool, clock } = deps;
  const outage = createOutageLog(deps.logger, 'database', deps.metrics);
  const listeners = new Set<() => void>();
  let up = true;
  let running: Promise<boolean> | undefined;

  async function probe(): Promise<boolean> {
    const sentAt = clock.localNow();
    try {
      const { rows } = await pool.query<{ now_ms: string }>(
        // clock_timestamp(), not now(): now() is the start of the transaction, which for a
        // single statement is the same moment, but says less clearly what is measured.
        `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms`,
      );
      clock.sample(sentAt, Number(rows[0]!.now_ms), clock.localNow());
    } catch (error) {
      up = false;
      outage.failed(error);
      return false;
    }
    if (!up) {
      up = true;
      outage.recovered();
      for (const listener of listeners) {
        try {
          listener();
        } catch (error) {
          deps.logger.warn({ err: error }, 'a database recovery listener failed');
        }
      }
    }
    return true;
  }

  const check = (): Promise<boolean> => {
    running ??= probe().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => void check(), options.intervalMs ?? 1000);
  timer.unref();

  return {
    isUp: () => up,
    onRecovered(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    check,
    close: () => clearInterval(timer),
  };
}
