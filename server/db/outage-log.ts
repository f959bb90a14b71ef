import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

/**
 * What one component says about a database outage: one warning when it first fails, one
 * line when it works again, and nothing in between, however often it retries. A restart of
 * PostgreSQL then costs a handful of log lines, not a pg error with its internals per retry.
 */
export interface OutageLog {
  /** The component could not reach the database; logged only for the first failure of an outage. */
  failed(error: unknown): void;
  /** The component works again; logged only if it had failed. */
  recovered(): void;
  /** Whether the component is failing now. */
  readonly down: boolean;
}

/** The few fields of a (pg) error worth a log line: never the client or the query behind it. */
export function errorSummary(error: unknown): { message: string; code?: string } {
  const { message, code } = (error ?? {}) as { message?: unknown; code?: unknown };
  return {
    message: typeof message === 'string' ? message : String(error),
    ...(typeof code === 'string' ? { code } : {}),
  };
}

/** `metrics`: each recovery counts as one of the component's database reconnects. */
export function createOutageLog(logger: Logger, component: string, metrics?: Pick<Metrics, 'databaseReconnects'>): OutageLog {
  let since: number | undefined;
  return {
    failed(error) {
      if (since !== undefined) return;
      since = Date.now();
      logger.warn({ component, error: errorSummary(error) }, `${component}: lost the database; retrying until it is back`);
    },
    recovered() {
      if (since === undefined) return;
      const ms = Date.now() - since;
      since = undefined;
      metrics?.databaseReconnects.inc({ component });
      logger.info({ component, ms }, `${component}: database back after ${(ms / 1000).toFixed(1)} s`);
    },
    get down() {
      return since !== undefined;
    },
  };
}
