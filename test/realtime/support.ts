import { io as connect, type ManagerOptions, type Socket as ClientSocket, type SocketOptions } from 'socket.io-client';
import { vi } from 'vitest';
import type { AppConfig, AppDeps } from '../../server/app.ts';
import { createPresenceRoutes } from '../../server/realtime/presence-routes.ts';
import { deferredEmitter } from '../../server/realtime/push.ts';
import {
  createSocketServer,
  type SocketServer,
  type SocketServerDeps,
  type SocketServerOptions,
} from '../../server/realtime/socket-server.ts';
import type { ClientToServerEvents, Flash, ServerToClientEvents } from '../../protocol/events.ts';
import { startTestApp, TEST_OPS_TOKEN, TEST_SESSION_SECRET, testLogger, type TestApp } from '../support/app.ts';
import { opsHeaders, Visitor } from '../support/http.ts';

export type TestSocket = ClientSocket<ServerToClientEvents, ClientToServerEvents>;

export interface RealtimeApp extends TestApp {
  realtime: SocketServer;
  /** Opens a visitor session (first page view) and returns the visitor. */
  newVisitor(): Promise<Visitor>;
  /** Connects a socket.io-client with the visitor's cookie; resolves once connected. */
  connect(visitor: Visitor, options?: ClientOptions): Promise<TestSocket>;
  /** GET /ops/api/presence. */
  presence(): Promise<{ activeSessions: number; sockets: number }>;
}

export type ClientOptions = Partial<ManagerOptions & SocketOptions> & { origin?: string | null };

/** Generous: "eventually" in these tests means "well within this", never a measured bound. */
export const EVENTUALLY = { timeout: 20_000, interval: 20 };

/**
 * The test app of test/support/app.ts with Socket.IO on its HTTP server, wired as the
 * composition root wires it: the push emits through the server's `io`, presence is served
 * under /ops/api.
 */
export async function startRealtimeApp(
  options: SocketServerOptions & {
    ttlSeconds?: number;
    trialSeconds?: number;
    /** The app's settings beyond the test defaults (test/support/app.ts). */
    config?: Partial<AppConfig>;
    /** The socket server's cookie secrets; default the app's one (TEST_SESSION_SECRET). */
    sessionSecrets?: readonly string[];
    hooks?: Pick<SocketServerDeps, 'onConnect' | 'onPromotionEvent'>;
    extend?: (deps: AppDeps) => Partial<AppDeps>;
  } = {},
): Promise<RealtimeApp> {
  const emitter = deferredEmitter();
  const ttlSeconds = options.ttlSeconds ?? 3600;
  const t = await startTestApp({
    ttlSeconds,
    ...(options.trialSeconds === undefined ? {} : { trialSeconds: options.trialSeconds }),
    ...(options.config ? { config: options.config } : {}),
    emitter,
    extend: (deps) => ({ opsApi: [createPresenceRoutes({ pool: deps.pool })], ...options.extend?.(deps) }),
  });
  const realtime = createSocketServer(
    t.server,
    {
      pool: t.pool,
      logger: testLogger,
      store: t.store,
      sessions: t.sessions,
      sessionSecrets: options.sessionSecrets ?? [TEST_SESSION_SECRET],
      ...options.hooks,
    },
    options,
  );
  emitter.bind(realtime.io);
  const sockets = new Set<TestSocket>();

  return {
    ...t,
    realtime,
    async newVisitor() {
      const visitor = new Visitor(t.url);
      const response = await visitor.request('/');
      if (response.status !== 200) throw new Error(`GET / answered ${response.status}`);
      await response.arrayBuffer();
      return visitor;
    },
    async connect(visitor, clientOptions = {}) {
      const socket = openSocket(t.url, visitor, clientOptions);
      sockets.add(socket);
      await connected(socket);
      return socket;
    },
    async presence() {
      const response = await fetch(`${t.url}/ops/api/presence`, { headers: opsHeaders(TEST_OPS_TOKEN) });
      if (response.status !== 200) throw new Error(`GET /ops/api/presence answered ${response.status}`);
      return (await response.json()) as { activeSessions: number; sockets: number };
    },
    async close() {
      for (const socket of sockets) socket.disconnect();
      await realtime.close();
      await t.close();
    },
  };
}

/** A socket.io-client of its own (no multiplexing), with the visitor's cookie and, by default, the app's origin. */
export function openSocket(url: string, visitor: Visitor | undefined, options: ClientOptions = {}): TestSocket {
  const { origin = url, ...rest } = options;
  const extraHeaders: Record<string, string> = {};
  if (visitor && visitor.cookies.size > 0) extraHeaders.cookie = visitor.cookieHeader;
  if (origin !== null) extraHeaders.origin = origin;
  return connect(url, { forceNew: true, transports: ['websocket'], reconnection: false, extraHeaders, ...rest });
}

/** Resolves once connected; rejects with the connect_error. */
export function connected(socket: TestSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve();
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

/** Resolves with the connect_error of a handshake that must fail; rejects if it connects. */
export function refused(socket: TestSocket): Promise<Error & { data?: { code?: string }; description?: unknown }> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => reject(new Error('the handshake was accepted')));
    socket.once('connect_error', (error) => resolve(error));
  });
}

/** Every flash a socket receives, in order. */
export function collectFlashes(socket: TestSocket): Flash[] {
  const received: Flash[] = [];
  socket.on('flash', (flash) => received.push(flash));
  return received;
}

export { idOf, keyOf } from '../support/http.ts';

export const eventually = (check: () => unknown | Promise<unknown>) => vi.waitFor(check, EVENTUALLY);
