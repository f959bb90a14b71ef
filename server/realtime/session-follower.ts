import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import { createOutageLog } from '../db/outage-log.ts';
import type { Metrics } from '../metrics.ts';

/**
 * Sockets follow their session: a socket whose session has ended (destroyed, expired,
 * regenerated) is disconnected within seconds, so no later push reaches it through the
 * shared visitors room. Sessions destroyed through this process's store are handled at once
 * by the store's listener (see socket-server.ts); this check catches every other way a
 * session ends: deleted by SQL (ops, cleanup job, another process), or simply expired.
 */
export function createSessionFollower(
  deps: {
    pool: Pool;
    logger: Logger;
    /** The session keys with sockets on this node. */
    sessionKeys: () => string[];
    /** Disconnects this node's sockets of one session. */
    disconnect: (key: string) => void;
    metrics?: Pick<Metrics, 'databaseReconnects'> | undefined;
  },
  options: { intervalMs?: number } = {},
) {
  let running = false;

  /** Disconnects the sockets of sessions that no longer exist or have expired; returns their keys. */
  async function check(): Promise<string[]> {
    const keys = deps.sessionKeys();
    if (keys.length === 0) return [];
    const { rows } = await deps.pool.query<{ key: string }>(
      `SELECT k.key FROM unnest($1::text[]) AS k(key)
        WHERE NOT EXISTS (SELECT 1 FROM session s WHERE s.sid = k.key AND s.expire > now())`,
      [keys],
    );
    for (const { key } of rows) deps.disconnect(key);
    return rows.map((row) => row.key);
  }

  const outage = createOutageLog(deps.logger, 'session follower', deps.metrics);
  const timer = setInterval(() => {
    // A check that outlasts the interval (a busy database) is not stacked with another.
    if (running) return;
    running = true;
    check()
      .then((ended) => {
        outage.recovered();
        if (ended.length > 0) deps.logger.debug({ sessions: ended.length }, 'disconnected sockets of ended sessions');
      })
      .catch((error: unknown) => outage.failed(error))
      .finally(() => {
        running = false;
      });
  }, options.intervalMs ?? 1000);

  return {
    check,
    close(): void {
      clearInterval(timer);
    },
  };
}
