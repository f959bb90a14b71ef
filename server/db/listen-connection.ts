import type pg from 'pg';
import type { Pool } from './pool.ts';

/**
 * The pool as a library that holds a LISTEN connection sees it (the Socket.IO adapter,
 * Agenda's notification channel). Those libraries take a client with connect() and keep it
 * for as long as they run; this hands them guarded clients:
 *
 * - a client always has an 'error' listener: its connection dying (a restart, a failover,
 *   pg_terminate_backend) is reported to `onLost`, never an unhandled 'error' event;
 * - a client that dies, ends or is released is destroyed, never returned to the pool
 *   (`release(err ?? true)`): the pool gets its slot back, and no other user is handed a
 *   connection that still LISTENs. Releasing twice is harmless;
 * - releaseAll() releases every client handed out so far, and one that arrives later from a
 *   connect() already under way is released at once and refused: the pool's end() never
 *   waits on a LISTEN connection. A connect() after it opens a new one.
 *
 * Reconnecting stays the library's job; `lost` tells it (or the log) that it must, and
 * `reachable` that it can stop waiting: after a loss, the first other client of the pool
 * that connects shows the database is back (in a web process, presence rewrites its rows
 * through this pool the moment the health check sees it). Upstream timers (the adapter's
 * 1 to 3 s) would otherwise leave a window after /readyz turns 200 in which a NOTIFY from
 * another process finds nobody listening and is lost.
 */
export interface ListenPool {
  connect(): Promise<pg.PoolClient>;
  query: Pool['query'];
  releaseAll(): void;
}

export interface ListenPoolHooks {
  lost(error: Error | undefined): void;
  reachable?(): void;
}

export function createListenPool(pool: Pool, hooks: ListenPoolHooks): ListenPool {
  const held = new Set<pg.PoolClient>();
  /** Bumped by releaseAll(): a connect() that began before it must not hand its client out. */
  let generation = 0;
  /** connect() calls under way: the pool's 'connect' event for their own client says nothing new. */
  let connecting = 0;
  // Subscribed only between a loss and the next LISTEN client.
  const onPoolConnect = () => {
    if (connecting > 0) return;
    pool.off('connect', onPoolConnect);
    // Not from inside the pool's own event: the hook may call connect().
    setImmediate(() => hooks.reachable?.());
  };

  function guard(client: pg.PoolClient): pg.PoolClient {
    const release = client.release;
    let released = false;
    client.release = (error?: Error | boolean) => {
      if (released) return;
      released = true;
      held.delete(client);
      release(error ?? true);
    };
    const lose = (error?: Error) => {
      if (released) return;
      client.release(error ?? true);
      pool.off('connect', onPoolConnect);
      if (hooks.reachable) pool.on('connect', onPoolConnect);
      hooks.lost(error);
    };
    client.on('error', lose);
    client.on('end', () => lose());
    held.add(client);
    return client;
  }

  return {
    async connect() {
      const opened = generation;
      connecting += 1;
      let client: pg.PoolClient;
      try {
        client = guard(await pool.connect());
      } finally {
        connecting -= 1;
      }
      pool.off('connect', onPoolConnect);
      if (generation !== opened) {
        client.release();
        throw new Error('The LISTEN connection was released while it was being opened.');
      }
      return client;
    },
    query: pool.query.bind(pool) as Pool['query'],
    releaseAll() {
      // A loss still waiting for the database stays subscribed: releaseAll() also cleans up
      // after a failed attempt. After a close the hook is a no-op, and unsubscribes on the
      // pool's next connect.
      generation += 1;
      for (const client of held) client.release();
    },
  };
}
