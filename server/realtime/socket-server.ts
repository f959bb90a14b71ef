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
import { errorSummary } from '../db/outage-log.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import { flashIdSchema } from '../sessions/flash.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { SessionStore } from '../sessions/session-store.ts';
import { createClusterAdapter } from './cluster.ts';
import { createHandshakeSessions } from './handshake-sessions.ts';
import { createOriginCheck } from './origin.ts';
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
  /** After a socket joined its rooms: the maintenance module sends a running countdown here. */
  onConnect?: (socket: FlashcastSocket, sessionKey: string) => void | Promise<void>;
  /** A valid `promotion:event` from a visitor's widget; recording it is the caller's. */
  onPromotionEvent?: (sessionKey: string, event: PromotionEvent) => void | Promise<void>;
}

export interface SocketServerOptions {
  /** ALLOWED_ORIGINS; unset: the origin whose host is the request's Host header. */
  allowedOrigins?: readonly string[] | undefined;
  /** At most 64 KB (the bound); default MAX_MESSAGE_BYTES. */
  maxMessageBytes?: number;
  /** Most session keys one handshake session check asks for; default MAX_HANDSHAKE_BATCH (1,000). */
  maxHandshakeBatch?: number;
  /** How often this node checks that its sockets' sessions still exist (ms). */
  followIntervalMs?: number;
  presence?: PresenceOptions;
}

export interface SocketServer {
  io: FlashcastServer;
  presence: Presence;
  /** Disconnects the sockets of ended sessions now (the periodic check, on demand). */
  followSessions(): Promise<string[]>;
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

const promotionEventSchema = z.object({
  promotionId: z.number().int().positive(),
  action: z.enum(['displayed', 'clicked', 'dismissed']),
});

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
    adapter: createClusterAdapter(deps.pool, logger),
  });

  // The handshake's session check: the signed cookie, then one existence check per batch of
  // handshakes (not express-session's full load per socket: a deploy's reconnect storm queued
  // thousands of them in the pool). It neither re-sends the cookie nor extends the session's
  // expiry: the page that opens the socket did both (see handshake-sessions.ts).
  const handshakeSessions = createHandshakeSessions(
    { pool: deps.pool, logger, secrets: deps.sessionSecrets },
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

  io.use((socket, next) => {
    const key = handshakeSessions.keyOf(socket.request);
    if (key === undefined) {
      return next(new HandshakeError('NO_SESSION', 'No session: open a page of the site first, then connect.'));
    }
    socket.data.sessionKey = key;
    next();
  });

  const presence = createPresence({ pool: deps.pool, logger }, options.presence);

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
    { pool: deps.pool, logger, sessionKeys: () => presence.sessionKeys(), disconnect: disconnectLocal },
    { intervalMs: options.followIntervalMs ?? 1000 },
  );

  io.on('connection', (socket) => {
    const key = socket.data.sessionKey;
    void socket.join([sessionRoom(key), VISITORS_ROOM]);
    presence.connected(key);
    socket.on('disconnect', () => presence.disconnected(key));

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
    followSessions: () => follower.check(),
    async close(): Promise<void> {
      if (closing) return;
      closing = true;
      follower.close();
      handshakeSessions.close();
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
        logger.warn({ err: errorSummary(error) }, 'acknowledging flashes failed');
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
    logger.warn({ err: errorSummary(error) }, message);
  }
}
