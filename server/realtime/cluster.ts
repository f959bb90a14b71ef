import { createAdapter } from '@socket.io/postgres-adapter';
import { Emitter } from '@socket.io/postgres-emitter';
// socket.io-adapter is the peer dependency @socket.io/postgres-adapter is built on.
import { Adapter, MessageType, type BroadcastOptions } from 'socket.io-adapter';
import type pg from 'pg';
import type { ServerToClientEvents } from '../../protocol/events.ts';
import { createListenPool, type ListenPool } from '../db/listen-connection.ts';
import { createOutageLog, errorSummary, type OutageLog } from '../db/outage-log.ts';
import type { Metrics } from '../metrics.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import type { RoomEmitter } from './push.ts';

/**
 * Several processes, one set of rooms: every web process's Socket.IO server uses the
 * PostgreSQL adapter (LISTEN/NOTIFY, plus the socket_io_attachments table of migration 004
 * for messages over 8000 bytes), and a worker process emits through the PostgreSQL emitter.
 * No private channel of our own (DESIGN.md).
 */

type AdapterFactory = ReturnType<typeof createAdapter>;
type ClusterAdapter = ReturnType<AdapterFactory>;

/**
 * The adapter for a web process. Holds one pooled connection for LISTEN while the server runs.
 *
 * One change to the stock adapter: a broadcast reaches this process's sockets at once, and
 * the other processes through PostgreSQL alongside. The stock ClusterAdapter first awaits
 * the NOTIFY round trip (a pool checkout plus a query) and only then writes to its own
 * sockets, which puts the database on the path of every local push and lets two
 * consecutive emits reach local sockets out of order when their NOTIFYs finish out of order.
 * With connection state recovery off (it is: the adapter does not support it) the offset it
 * waits for is unused, so nothing is lost by not waiting.
 *
 * And its LISTEN connection outlives the database going away (superviseListenConnection):
 * a lost connection is logged once, released, and opened again until the database is back.
 */
export interface ClusterAdapterHooks {
  /**
   * This process listens again after it had lost its LISTEN connection: whatever other
   * processes published meanwhile never reached its sockets (NOTIFY is not stored).
   */
  onListenRestored?(): void;
  metrics?: Pick<Metrics, 'databaseReconnects'> | undefined;
}

export function createClusterAdapter(pool: Pool, logger: Logger, hooks: ClusterAdapterHooks = {}): AdapterFactory {
  const outage = createOutageLog(logger, 'Socket.IO adapter', hooks.metrics);
  let supervisor: ListenSupervisor | undefined;
  const listen = createListenPool(pool, {
    lost: (error) => outage.failed(error ?? new Error('The LISTEN connection ended.')),
    reachable: () => supervisor?.reconnectNow(),
  });
  const make = createAdapter(listen as unknown as pg.Pool, {
    // While the LISTEN connection is down, so is the database: one warning for the outage
    // (above), not one per failed publish.
    errorHandler: (error) => {
      if (!outage.down) logger.warn({ error: errorSummary(error) }, 'Socket.IO PostgreSQL adapter failed');
    },
  });
  let patched = false;
  // Socket.IO calls this with `new`: a function, not an arrow, returning the adapter.
  return function clusterAdapter(nsp: unknown): ClusterAdapter {
    const adapter = make(nsp);
    if (!patched) {
      patched = true;
      supervisor = superviseListenConnection((adapter as unknown as { client: PubSubClientLike }).client, listen, outage, hooks);
    }
    adapter.broadcast = (packet: unknown, opts: BroadcastOptions): Promise<void> => {
      if (!opts.flags?.local) {
        // Serialized synchronously inside publish, before the local write below runs.
        adapter.publish({
          type: MessageType.BROADCAST,
          data: { packet, opts: { rooms: [...opts.rooms], except: [...(opts.except ?? [])], flags: opts.flags ?? {} } },
        });
      }
      Adapter.prototype.broadcast.call(adapter, packet, opts);
      return Promise.resolve();
    };
    return adapter;
  };
}

/** The parts of the adapter's (untyped) PubSubClient that the patch below touches. */
interface PubSubClientLike {
  client?: object;
  reconnectTimer?: ReturnType<typeof setTimeout>;
  close(): void;
  initClient(): Promise<void>;
  scheduleReconnection(): void;
}

/**
 * Works around @socket.io/postgres-adapter 0.5.0's PubSubClient (dist/util.js), which holds
 * the LISTEN connection. Upstream it attached no 'error' listener to that client (a
 * restart or a terminated backend crashed the process: "Unhandled 'error' event"), never
 * released a client that ended (each loss kept a pool slot until the pool was exhausted),
 * could schedule two reconnections for one loss (a failed LISTEN and the client's 'end'),
 * hence two LISTEN clients, and kept a client that arrived after close(), so the pool's
 * end() waited forever. The guarded pool (listen-connection.ts) handles the client's errors
 * and releases it; here at most one reconnection is pending, none after close(), and
 * close() also releases a client still being opened. Its delay stays upstream's (1 to 3 s),
 * cut short by reconnectNow() when the database is seen to be back.
 */
interface ListenSupervisor {
  reconnectNow(): void;
}

function superviseListenConnection(
  pubsub: PubSubClientLike,
  listen: ListenPool,
  outage: OutageLog,
  hooks: ClusterAdapterHooks,
): ListenSupervisor {
  let closed = false;
  let pending = false;
  const close = pubsub.close.bind(pubsub);
  const initClient = pubsub.initClient.bind(pubsub);
  const scheduleReconnection = pubsub.scheduleReconnection.bind(pubsub);
  pubsub.scheduleReconnection = () => {
    if (closed || pending) return;
    pending = true;
    scheduleReconnection();
  };
  // Called by the reconnection timer; upstream's own catches every error.
  pubsub.initClient = async () => {
    pending = false;
    await initClient();
    if (pubsub.client && !closed) {
      outage.recovered();
      hooks.onListenRestored?.();
    }
  };
  pubsub.close = () => {
    closed = true;
    close();
    listen.releaseAll();
  };
  return {
    reconnectNow() {
      if (closed || !pending) return;
      clearTimeout(pubsub.reconnectTimer);
      void pubsub.initClient();
    },
  };
}

interface QueryResultLike {
  rows: Array<Record<string, unknown>>;
}

/**
 * The RoomEmitter of a process that holds no sockets (ROLE=worker): its emits reach the
 * sockets of every web process through their PostgreSQL adapters.
 *
 * The emitter reports a failed publish by broadcasting an "error" event through the same
 * pool: while the database is unreachable that retries forever, and when only the
 * attachment table fails it would send visitors an "error" event. So failures are logged
 * here and never reach it; a push that could not be published is still in the sessions
 * (written first), and shows on the visitor's next page load or reconnect.
 */
export function createWorkerEmitter(pool: Pool, options: { logger?: Logger } = {}): RoomEmitter {
  const guardedPool = {
    query: (text: string, values?: unknown[]): Promise<QueryResultLike> =>
      pool.query(text, values).catch((error: unknown) => {
        options.logger?.warn({ error: errorSummary(error) }, 'Socket.IO PostgreSQL emitter failed to publish');
        // An attachment insert that failed yields no id; the notice that follows then names
        // no namespace, and every adapter ignores it.
        return { rows: [{ id: null }] };
      }),
  };
  const emitter = new Emitter<ServerToClientEvents>(guardedPool);
  return {
    to(room) {
      const operator = emitter.to(room);
      // The emitter (0.1.x) publishes messages without their namespace, which the adapter
      // (0.5, built on socket.io-adapter's ClusterAdapter) needs in order to route them: it
      // drops them all without it. Stamped here, on this operator only, before the message
      // is serialized (for NOTIFY or for an attachment row alike).
      const internals = operator as unknown as { publish(document: object): Promise<void> };
      const publish = internals.publish.bind(operator);
      internals.publish = (document) => publish({ ...document, nsp: emitter.nsp });
      return operator;
    },
  };
}
