import type { Config } from './config.ts';
import { isDatabaseUnavailable } from './db/pool.ts';

/**
 * The one sentence a failed start prints: what went wrong and what to do about it. The
 * error itself, with its stack, goes to the log at debug level (LOG_LEVEL=debug).
 */
export function describeStartupFailure(error: unknown, config: Pick<Config, 'databaseUrl' | 'port' | 'metricsPort' | 'host'>): string {
  const { code, message, port } = (error ?? {}) as { code?: unknown; message?: unknown; port?: unknown };
  const firstLine = (typeof message === 'string' ? message : String(error)).split('\n')[0]!.trim();
  const database = config.databaseUrl ? `PostgreSQL at ${whereIs(config.databaseUrl)}` : 'the embedded PostgreSQL';

  if (code === 'EADDRINUSE') {
    const which = port === config.metricsPort ? 'METRICS_PORT' : 'PORT';
    return `Port ${String(port ?? '?')} on ${config.host} is already in use: stop whatever listens there, or set ${which} to a free port.`;
  }
  if (code === 'EACCES' && port !== undefined) {
    return `This user may not listen on port ${String(port)}: set PORT (or METRICS_PORT) to a port above 1023, or run behind a proxy.`;
  }
  if (code === '28P01' || code === '28000') {
    return `${database} refused the user name or password in DATABASE_URL (${firstLine}): correct them in DATABASE_URL.`;
  }
  if (code === '3D000') {
    return `The database named in DATABASE_URL does not exist on ${database} (${firstLine}): create it (createdb) or correct DATABASE_URL.`;
  }
  if (isDatabaseUnavailable(error) || code === 'ENOTFOUND') {
    return config.databaseUrl
      ? `Could not reach ${database} (${firstLine}): check DATABASE_URL and that the database is running and reachable from here.`
      : `Could not reach the embedded PostgreSQL (${firstLine}): run again with LOG_LEVEL=debug to see its log, or set DATABASE_URL to a PostgreSQL of your own.`;
  }
  // Errors of our own (DataDirInUseError, a missing optional package, an invalid build)
  // already say what to do.
  return `${firstLine.replace(/[.:]$/, '')} (LOG_LEVEL=debug shows the details).`;
}

/** host:port/database of a postgres:// URL: never its user or password. */
function whereIs(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.host}${parsed.pathname}`;
  } catch {
    return 'DATABASE_URL';
  }
}
