import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { Server, type Socket } from 'socket.io';
import { z } from 'zod';
import {
  MAX_ACK_IDS,
  type ClientToServerEvents,
  type HandshakeErrorCode,
  type PromotionEvent,
  type ServerToClientEvents,
} from '../../protocol/events.ts';
import { promotionEventSchema } from '../../protocol/promotion-event-schema.ts';
import { errorSummary } from '../db/outage-log.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { flashIdSchema } from '../sessions/flash.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { SessionStore } from '../sessions/session-store.ts';
import { createClusterAdapter } from './cluster.ts';
import { createConnectFlashes } from './connect-flashes.ts';
import { createHandshakeSessions } from './handshake-sessions.ts';
import { createOriginCheck } from './origin.ts';
import { pendingFlashes } from './pending-flashes.ts';
import { createPresence, type Presence, type PresenceOptions } from './presence.ts';
import { VISITORS_ROOM, sessionRoom } from './rooms.ts';
import { createSessionFollower } from './session-follower.ts';

/** What the server keeps on each socket. */
export interface SocketData {
  /** The stored key of the socket's session (`sessionKey(id)`), never the cookie's id. */
  sessionKey: string;
}

export type FlashcastServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
export type FlashcastSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

/**
 * The largest message a client may send. An acknowledgement of MAX_ACK_IDS ids is about
 * 4 KB; anything much larger is not ours, and its connection is closed by Engine.IO.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024;

/** Acknowledged ids waiting behind a running DELETE, per socket; a flood beyond this is dropped. */
const MAX_PENDING_ACK_IDS = MAX_ACK_IDS * 10;
/** Promotion events of one socket being recorded at once; a flood beyond this is dropped. */
const MAX_PROMOTION_EVENTS_IN_FLIGHT = 8;

/**
 * Sockets one session may hold on one process. A visitor's tabs each hold one; twenty is more
 * tabs of one shop than anyone keeps open, and it bounds what one cookie can cost.
 */
export const MAX_SOCKETS_PER_SESSION = 20;

/**
 * Events one socket may send in a second. The widget sends an acknowledgement per flash shown
 * (batched) and a promotion event per banner action: a handful a minute. A socket past this
 * is not a widget; it is disconnected.
 */
export const MAX_EVENTS_PER_SECOND = 30;

export interface SocketServerDeps {
  pool: Pool;
  logger: Logger;
  store: SessionStore;
  sessions: Pick<Sessions, 'removeFlashes'>;
  /**
   * The session cookie's signing secrets, newest first (the app's SESSION_SECRET list): a
   * handshake's cookie is unsigned with each in turn, as express-session does.
   */
  sessionSecrets: readonly string[];
  /** The session cookie's name, as the app sets it (sessionCookieName); default SESSION_COOKIE. */
  sessionCookieName?: string;
  /** After a socket joined its rooms: the maintenance module sends a running countdown here. */
  onConnect?: (socket: FlashcastSocket, sessionKey: string) => void | Promise<void>;
  /** A valid `promotion:event` from a visitor's widget; recording it is the caller's. */
  onPromotionEvent?: (sessionKey: string, event: PromotionEvent) => void | Promise<void>;
  /** Open sockets (read at each scrape) and the realtime parts' database reconnects. */
  metrics?: Metrics;
}

export interface SocketServerOptions {
  /** ALLOWED_ORIGINS; unset: the origin whose host is the request's Host header. */
  allowedOrigins?: readonly string[] | undefined;
  /** At most 64 KB (the bound); default MAX_MESSAGE_BYTES. */
  maxMessageBytes?: number;
  /** Most session keys one handshake session check asks for; default MAX_HANDSHAKE_BATCH (1,000). */
  maxHandshakeBatch?: number;
  /** Sockets one session may hold on this process; default MAX_SOCKETS_PER_SESSION. */
  maxSocketsPerSession?: number;
  /** Events one socket may send in a second before it is disconnected; default MAX_EVENTS_PER_SECOND. */
  maxEventsPerSecond?: number;
  /** How often this node checks that its sockets' sessions still exist (ms). */
  followIntervalMs?: number;
  presence?: PresenceOptions;
}

export interface SocketServer {
  io: FlashcastServer;
  presence: Presence;
  /**
   * Drops every socket at the transport (browsers reconnect, to this process's successor
   * after a deploy), refuses new handshakes, and removes this node's presence. It leaves the
   * HTTP server to its owner: run it before closing the HTTP server, which otherwise waits
   * for the upgraded connections.
   */
  close(): Promise<void>;
}

class HandshakeError extends Error {
  readonly data: { code: HandshakeErrorCode };
  constructor(code: HandshakeErrorCode, message: string) {
    super(message);
    this.name = 'HandshakeError';
    this.data = { code };
  }
}

const ackSchema = z.object({ ids: z.array(flashIdSchema).max(MAX_ACK_IDS) });

type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** Engine.IO sets `_query` before its middlewares run; `sid` names an open connection. */
const isHandshake = (req: IncomingMessage): boolean =>
  (req as IncomingMessage & { _query?: Record<string, string | undefined> })._query?.sid === undefined;

/**
 * Socket.IO on the app's HTTP server. A socket is a visitor's tab: its handshake carries
 * the session cookie, it joins the room of its session and the shared visitors room, and
 * it counts in presence while connected. Built here, listened to by the caller.
 */
export function createSocketServer(httpServer: HttpServer, deps: SocketServerDeps, options: SocketServerOptions = {}): SocketServer {
  const { logger, store } = deps;
  const maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  if (maxMessageBytes > 64 * 1024) throw new RangeError('maxMessageBytes must be at most 64 KB');
  const originAllowed = createOriginCheck(options.allowedOrigins);
  let closing = false;

  const io: FlashcastServer = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: maxMessageBytes,
    // Checked on the handshake, whatever its transport: a websocket opened directly as much
    // as a polling one (CORS does not protect websockets).
    allowRequest: (req, callback) => {
      if (closing) return callback('SHUTTING_DOWN', false);
      if (!originAllowed(req)) return callback('ORIGIN_NOT_ALLOWED' satisfies HandshakeErrorCode, false);
      callback(null, true);
    },
    // Listed origins other than the page's own need CORS for polling, with the cookie.
    ...(options.allowedOrigins
      ? { cors: { origin: options.allowedOrigins.map((origin) => new URL(origin).origin), credentials: true } }
      : {}),
    // Listening again after a lost connection, this process sends its tabs what is pending
    // in their sessions: pushes published meanwhile by other processes never reached it.
    adapter: createClusterAdapter(deps.pool, logger, { onListenRestored: () => void resendPending(), metrics: deps.metrics }),
  });

  // The handshake's session check: the signed cookie, then one existence check per batch of
  // handshakes (not express-session's full load per socket: a deploy's reconnect storm queued
  // thousands of them in the pool). It neither re-sends the cookie nor extends the session's
  // expiry: the page that opens the socket did both (see handshake-sessions.ts).
  const handshakeSessions = createHandshakeSessions(
    {
      pool: deps.pool,
      logger,
      secrets: deps.sessionSecrets,
      ...(deps.sessionCookieName === undefined ? {} : { cookieName: deps.sessionCookieName }),
      lifetimes: { ttlSeconds: store.ttlSeconds, trialSeconds: store.trialSeconds },
      metrics: deps.metrics,
    },
    options.maxHandshakeBatch === undefined ? {} : { maxBatch: options.maxHandshakeBatch },
  );
  io.engine.use(((req, _res, next) => {
    if (!isHandshake(req)) {
      // A poll or upgrade of an open connection, whose handshake passed: refused all the
      // same from a foreign origin, in case its sid leaked.
      return originAllowed(req) ? next() : next(new Error('ORIGIN_NOT_ALLOWED'));
    }
    // Refused by allowRequest right after (Engine.IO runs it after its middlewares): not
    // worth a session check.
    if (closing || !originAllowed(req)) return next();
    handshakeSessions.check(req, next);
  }) satisfies NodeMiddleware);

  io.engine.on('connection_error', (error: { code: number; message: string; context?: unknown }) => {
    logger.debug({ code: error.code, message: error.message, context: error.context }, 'socket handshake refused');
  });

  const maxSocketsPerSession = options.maxSocketsPerSession ?? MAX_SOCKETS_PER_SESSION;
  const maxEventsPerSecond = options.maxEventsPerSecond ?? MAX_EVENTS_PER_SECOND;
  /** Sockets admitted per session key on this process, from admission until they close. */
  const socketsOf = new Map<string, number>();
  /** Admitted (connected or about to be) namespace sockets per Engine.IO connection. */
  const admittedOn = new WeakMap<object, number>();

  /**
   * Refuses a handshake and closes its connection as soon as the refusal is written. Left
   * alone, Socket.IO keeps a connection that never joined a namespace for connectTimeout
   * (45 s): a thousand refused cookieless handshakes held ~8 MB.
   */
  const refuse = (socket: FlashcastSocket, next: (error?: Error) => void, error: HandshakeError): void => {
    next(error);
    // Socket.IO writes the CONNECT_ERROR on the next tick; close() lets it be delivered first
    // (on a websocket at once, on polling with the client's next poll), then closes.
    setImmediate(() => {
      if ((admittedOn.get(socket.conn) ?? 0) === 0) socket.conn.close();
    });
  };

  io.use((socket, next) => {
    const key = handshakeSessions.keyOf(socket.request);
    if (key === undefined) {
      return refuse(socket, next, new HandshakeError('NO_SESSION', 'No session: open a page of the site first, then connect.'));
    }
    // Counted here, synchronously, not at 'connection': a burst of handshakes of one cookie
    // all pass this middleware before the first of them joins its rooms.
    const count = socketsOf.get(key) ?? 0;
    if (count >= maxSocketsPerSession) {
      logger.debug({ count }, 'socket refused: its session has too many sockets');
      return refuse(
        socket,
        next,
        new HandshakeError('TOO_MANY_SOCKETS', `This session has ${count} sockets open already; close a tab of the site, then reload.`),
      );
    }
    socketsOf.set(key, count + 1);
    admittedOn.set(socket.conn, (admittedOn.get(socket.conn) ?? 0) + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const left = (socketsOf.get(key) ?? 1) - 1;
      if (left > 0) socketsOf.set(key, left);
      else socketsOf.delete(key);
      admittedOn.set(socket.conn, Math.max(0, (admittedOn.get(socket.conn) ?? 1) - 1));
    };
    // Whichever comes first: the socket's disconnect, or its connection's close (which also
    // covers a socket that never got to connect).
    socket.once('disconnect', release);
    socket.conn.once('close', release);
    socket.data.sessionKey = key;
    next();
  });

  /** Every pending flash of this process's sessions, to their rooms here (the widget shows each id once per tab). */
  async function resendPending(): Promise<void> {
    try {
      const pending = await pendingFlashes(deps.pool, presence.sessionKeys());
      for (const [key, flashes] of pending) for (const flash of flashes) io.local.to(sessionRoom(key)).emit('flash', flash);
      logger.info({ sessions: pending.size }, 'sent pending flashes again after listening again');
    } catch (error) {
      logger.warn({ error: errorSummary(error) }, 'could not send pending flashes again; tabs get them on their next page load');
    }
  }

  const presence = createPresence({ pool: deps.pool, logger, metrics: deps.metrics }, options.presence);
  deps.metrics?.watchSockets(() => io.of('/').sockets.size);

  const disconnectLocal = (key: string): void => {
    io.local.in(sessionRoom(key)).disconnectSockets(true);
  };

  store.onSessionEnded((key) => {
    if (closing) return;
    // This process's sockets now; the other web processes' through the adapter.
    disconnectLocal(key);
    io.in(sessionRoom(key)).disconnectSockets(true);
  });

  const follower = createSessionFollower(
    { pool: deps.pool, logger, sessionKeys: () => presence.sessionKeys(), disconnect: disconnectLocal, metrics: deps.metrics },
    { intervalMs: options.followIntervalMs ?? 1000 },
  );

  // Every socket gets its session's pending flashes at connect, read in batches (connect-flashes.ts).
  const connectFlashes = createConnectFlashes({ pool: deps.pool, logger });

  io.on('connection', (socket) => {
    const key = socket.data.sessionKey;
    void socket.join([sessionRoom(key), VISITORS_ROOM]);
    presence.connected(key);
    connectFlashes.send(socket, key);
    socket.on('disconnect', () => presence.disconnected(key));

    // A fixed one-second window per socket: past maxEventsPerSecond the socket is no widget of
    // ours, and it is disconnected before its events cost anything more.
    let windowStart = 0;
    let eventsInWindow = 0;
    socket.use((_packet, next) => {
      const now = Date.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        eventsInWindow = 0;
      }
      eventsInWindow += 1;
      if (eventsInWindow <= maxEventsPerSecond) return next();
      if (socket.connected) {
        logger.debug({ events: eventsInWindow }, 'socket disconnected: it sent events faster than allowed');
        socket.disconnect(true);
      }
    });

    const acknowledge = createAckQueue((ids) => deps.sessions.removeFlashes(key, ids), logger);
    socket.on('flash:ack', (payload: unknown) => {
      const parsed = ackSchema.safeParse(payload);
      // Anything else is dropped without a word: a well-behaved widget never sends it.
      if (parsed.success) acknowledge(parsed.data.ids);
    });

    let promotionEventsInFlight = 0;
    socket.on('promotion:event', (payload: unknown) => {
      const parsed = promotionEventSchema.safeParse(payload);
      if (!parsed.success || !deps.onPromotionEvent) return;
      if (promotionEventsInFlight >= MAX_PROMOTION_EVENTS_IN_FLIGHT) return;
      promotionEventsInFlight += 1;
      runSafely(() => deps.onPromotionEvent!(key, parsed.data), logger, 'recording a promotion event failed').finally(() => {
        promotionEventsInFlight -= 1;
      });
    });

    if (deps.onConnect) void runSafely(() => deps.onConnect!(socket, key), logger, 'socket onConnect hook failed');
  });

  return {
    io,
    presence,
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      follower.close();
      handshakeSessions.close();
      connectFlashes.close();
      // What io.close() does, except closing the HTTP server, which has its own owner.
      io.engine.close();
      await io.of('/').adapter.close();
      await presence.close();
    },
  };
}

/**
 * Acknowledgements of one socket, one DELETE at a time: ids that arrive while one runs are
 * gathered and removed by the next, so a client that floods acks costs one statement at a
 * time and bounded memory, never a queue of statements in the pool.
 */
function createAckQueue(remove: (ids: string[]) => Promise<unknown>, logger: Logger): (ids: string[]) => void {
  let pending = new Set<string>();
  let running = false;
  const drain = async (): Promise<void> => {
    running = true;
    while (pending.size > 0) {
      const ids = [...pending];
      pending = new Set();
      try {
        await remove(ids);
      } catch (error) {
        // The flashes stay; the widget shows them again on the next load, and acks again.
        logger.warn({ error: errorSummary(error) }, 'acknowledging flashes failed');
      }
    }
    running = false;
  };
  return (ids) => {
    for (const id of ids) {
      if (pending.size >= MAX_PENDING_ACK_IDS) break;
      pending.add(id);
    }
    if (!running) void drain();
  };
}

async function runSafely(work: () => unknown, logger: Logger, message: string): Promise<void> {
  try {
    await work();
  } catch (error) {
    logger.warn({ error: errorSummary(error) }, message);
  }
}
