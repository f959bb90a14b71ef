import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import type { Socket as ClientSocket } from 'socket.io-client';
import type { Flash } from '../protocol/events.ts';
import type { Pool } from '../server/db/pool.ts';
import { newSessionId, sessionKey } from '../server/sessions/session-key.ts';

/**
 * The processes of the socket benchmarks (socket-fanout, socket-memory, connect-storm).
 *
 * The bench process only coordinates. The server under test runs in a process of its own
 * (`socket-client.ts server`: the production wiring of server/system.ts, ROLE=web, and
 * optionally a bare Socket.IO server beside it), and the socket.io-clients in another
 * (`socket-client.ts clients`), so neither shares an event loop or a heap with the other or
 * with the bench runner. They still share the machine's cores, and PostgreSQL's.
 *
 * Each child is started through bash so it can raise its open-file limit first
 * (`ulimit -n`), then `exec`s node; it answers RPC calls over the IPC channel and exits when
 * the channel closes. Times cross processes as CLOCK_MONOTONIC milliseconds
 * (`process.hrtime`), which every process on the machine shares.
 *
 * For diagnosis the server process can also write heap snapshots, and the children take
 * extra node flags from BENCH_SERVER_NODE_ARGS / BENCH_CLIENTS_NODE_ARGS (e.g. --cpu-prof).
 */

export const BENCH_SECRET = 'bench-socket-secret-not-for-production';
export const BENCH_OPS_TOKEN = 'bench-socket-ops-token-0123456789';
export const BENCH_TTL_SECONDS = 86_400;
const SESSION_COOKIE = 'flashcast.sid';
const NOFILE = 65_536;

/** CLOCK_MONOTONIC in ms, comparable between processes of one machine. */
export const now = (): number => Number(process.hrtime.bigint()) / 1e6;

// --- sessions -----------------------------------------------------------------------------------

/** express-session's cookie value: `s:` + id + `.` + HMAC-SHA256 (cookie-signature), URL-encoded. */
function signedCookie(id: string, secret: string): string {
  const signature = createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
  return `${SESSION_COOKIE}=${encodeURIComponent(`s:${id}.${signature}`)}`;
}

/**
 * `count` live visitor sessions inserted in one statement, as the store would have stored
 * them after a first page view; answers their `Cookie` headers. The handshakes that carry
 * them still go through the real handshake session check (server/realtime/handshake-sessions.ts).
 */
export async function seedSessions(pool: Pool, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newSessionId());
  const expires = new Date(Date.now() + BENCH_TTL_SECONDS * 1000);
  const sess = {
    cookie: {
      originalMaxAge: BENCH_TTL_SECONDS * 1000,
      expires: expires.toISOString(),
      secure: false,
      httpOnly: true,
      path: '/',
      sameSite: 'lax',
    },
    startedAt: Date.now(),
  };
  await pool.query('INSERT INTO session (sid, sess, expire) SELECT k, $2::jsonb, $3 FROM unnest($1::text[]) AS k', [
    ids.map(sessionKey),
    JSON.stringify(sess),
    expires,
  ]);
  return ids.map((id) => signedCookie(id, BENCH_SECRET));
}

// --- RPC ----------------------------------------------------------------------------------------

type Api = Record<string, (args: never) => Promise<unknown>>;
interface Request {
  id: number;
  cmd: string;
  args: unknown;
}
interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}
interface Hello {
  ready: true;
  nofile: number;
}

export interface Child<T extends Api> {
  pid: number;
  /** The child's soft limit on open files, after its `ulimit -n`. */
  nofile: number;
  call<K extends keyof T & string>(cmd: K, ...args: Parameters<T[K]> extends [] ? [] : Parameters<T[K]>): ReturnType<T[K]>;
  stop(): Promise<void>;
}

function startChild<T extends Api>(role: 'server' | 'clients', options: { exposeGc?: boolean } = {}): Promise<Child<T>> {
  const script = fileURLToPath(import.meta.url);
  // For diagnosis, e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env[`BENCH_${role.toUpperCase()}_NODE_ARGS`] ?? '').split(/\s+/).filter(Boolean);
  const nodeArgs = [...(options.exposeGc ? ['--expose-gc'] : []), ...extra, '--import', 'tsx', script, role];
  // As root the hard limit can be raised too; otherwise the soft one goes up to the hard one.
  const shell = `ulimit -n ${NOFILE} 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"; exec "$0" "$@"`;
  const child: ChildProcess = spawn('bash', ['-c', shell, process.execPath, ...nodeArgs], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 0;
  const waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  const failAll = (error: Error): void => {
    for (const pending of waiting.values()) pending.reject(error);
    waiting.clear();
  };
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const error = new Error(`bench ${role} process exited (code ${code}, signal ${signal})`);
      failAll(error);
      reject(error);
    });
    child.on('message', (message: Reply | Hello) => {
      if ('ready' in message) {
        resolve({
          pid: child.pid!,
          nofile: message.nofile,
          call: ((cmd: string, args?: unknown) =>
            new Promise((resolveCall, rejectCall) => {
              const id = next++;
              waiting.set(id, { resolve: resolveCall, reject: rejectCall });
              child.send({ id, cmd, args } satisfies Request);
            })) as unknown as Child<T>['call'],
          stop: () =>
            new Promise<void>((resolveStop) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolveStop();
              child.once('exit', () => resolveStop());
              child.disconnect();
              setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
            }),
        });
        return;
      }
      const pending = waiting.get(message.id);
      if (!pending) return;
      waiting.delete(message.id);
      if (message.error !== undefined) pending.reject(new Error(`bench ${role} process: ${message.error}`));
      else pending.resolve(message.result);
    });
  });
}

function serveRpc(api: Api): void {
  process.on('message', (request: Request) => {
    const handler = api[request.cmd];
    const answer = (reply: Reply): void => void process.send!(reply);
    if (!handler) return answer({ id: request.id, error: `unknown command ${request.cmd}` });
    handler(request.args as never).then(
      (result) => answer({ id: request.id, result: result ?? null }),
      (error: unknown) => answer({ id: request.id, error: String((error as Error)?.stack ?? error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ ready: true, nofile: openFileLimit() } satisfies Hello);
}

function openFileLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  return Number(line?.split(/\s+/)[3] ?? Number.NaN);
}

// --- the server process -------------------------------------------------------------------------

export interface QueryStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

export interface ServerStats {
  /** Statements by kind: time from `pool.query` to its answer, pool wait included. */
  queries: Record<string, QueryStats>;
  /** Most requests ever seen waiting for a pooled connection, in either pool (the app's, the realtime one). */
  maxPoolWaiting: number;
  /** How long a pooled connection (of either pool) stayed checked out (one statement's round trip, as the event loop saw it). */
  poolHold: QueryStats;
  /** Share of wall time the event loop was busy, 0–1. */
  eventLoopUtilization: number;
  /** Event-loop delay (ms), p99 and max. */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  connections: number;
  firstConnectionAt: number;
  lastConnectionAt: number;
  presenceWrites: Array<{ start: number; end: number; sessions: number }>;
  cpuMs: number;
  localSockets: number;
}

export interface MemoryReading {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  gc: boolean;
  /** Sockets connected to the server(s) of this process. */
  sockets: number;
}

export interface PushTiming {
  /** Just before `push.flash('active', …)`. */
  t0: number;
  /** Just before the push's one emit (after the write). */
  tEmit: number;
  /** When the emit call returned. */
  tEmitted: number;
  /** When `push.flash` resolved. */
  tReturned: number;
  sessions: number;
}

export interface StartArgs {
  databaseUrl: string;
  ours: boolean;
  bare: boolean;
}

export type ServerApi = {
  start(args: StartArgs): Promise<{ url?: string; bareUrl?: string }>;
  push(args: { message: string }): Promise<PushTiming>;
  bareEmit(args: { message: string }): Promise<{ t0: number; tEmitted: number }>;
  memory(): Promise<MemoryReading>;
  stats(): Promise<ServerStats>;
  resetStats(): Promise<null>;
  /** Diagnosis: writes a heap snapshot (after a full GC when exposed) and answers its path. */
  heapSnapshot(args: { dir: string }): Promise<string>;
  stop(): Promise<null>;
};

/** Statements the server process's pool runs, named by a piece of their text (named statements go by their name). */
const STATEMENT_KINDS: Array<[marker: string, kind: string]> = [
  ['INSERT INTO presence (session_sid', 'presence write'],
  ['presence_nodes SET heartbeat_at', 'heartbeat'],
  ['WHERE sid = ANY($1::text[]) AND expire', 'handshake session check'],
  ['AS k(key)', 'session follower'],
  ['INSERT INTO flashes', 'flash write'],
  ['count(DISTINCT p.session_sid)', 'presence count'],
];

async function serverRole(): Promise<ServerApi> {
  const [{ createApp }, { createPool }, { createLogger }, { createFlashcast }, { Server }] = await Promise.all([
    import('../server/app.ts'),
    import('../server/db/pool.ts'),
    import('../server/logger.ts'),
    import('../server/flashcast.ts'),
    import('socket.io'),
  ]);
  const logger = createLogger(process.env.LOG_LEVEL === 'debug' ? 'debug' : 'warn');
  const closers: Array<() => Promise<void>> = [];
  let ours: { push: import('../server/realtime/push.ts').Push; localSockets: () => number; clients: () => number } | undefined;
  let bare: import('socket.io').Server | undefined;
  let lastEmitAt = 0;
  let bareConnections = 0;

  const stats = (): ServerStats => ({
    queries: {},
    maxPoolWaiting: 0,
    poolHold: { count: 0, totalMs: 0, maxMs: 0 },
    eventLoopUtilization: 0,
    loopDelayP99Ms: 0,
    loopDelayMaxMs: 0,
    connections: 0,
    firstConnectionAt: 0,
    lastConnectionAt: 0,
    presenceWrites: [],
    cpuMs: 0,
    localSockets: 0,
  });
  let current = stats();
  let cpuBase = process.cpuUsage();
  let eluBase = performance.eventLoopUtilization();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();

  const listen = (server: HttpServer, backlog?: number): Promise<string> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      const done = (): void => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      // Ours passes server/system.ts's backlog; without one (the bare server), Node's default, 511.
      if (backlog === undefined) server.listen(0, '127.0.0.1', done);
      else server.listen({ port: 0, host: '127.0.0.1', backlog }, done);
    });
  const closeHttp = (server: HttpServer): Promise<void> =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });

  /** Times every `pool.query` by kind, in constant memory (the memory benchmark reads RSS). */
  const instrument = (pool: Pool): void => {
    const checkedOut = new WeakMap<object, number>();
    pool.on('acquire', (client) => checkedOut.set(client, now()));
    pool.on('release', (_error, client) => {
      const since = checkedOut.get(client);
      if (since === undefined) return;
      const held = now() - since;
      current.poolHold.count += 1;
      current.poolHold.totalMs += held;
      current.poolHold.maxMs = Math.max(current.poolHold.maxMs, held);
    });
    const original = pool.query;
    pool.query = function (this: Pool, ...args: unknown[]) {
      const first = args[0] as string | { text?: string; name?: string };
      const text = typeof first === 'string' ? first : (first?.text ?? '');
      const kind =
        typeof first === 'object' && first?.name
          ? first.name
          : (STATEMENT_KINDS.find(([marker]) => text.includes(marker))?.[1] ?? text.trimStart().slice(0, 24));
      current.maxPoolWaiting = Math.max(current.maxPoolWaiting, this.waitingCount);
      const start = now();
      const result = (original as (...a: unknown[]) => unknown).apply(this, args);
      if (typeof (result as Promise<unknown> | undefined)?.then === 'function') {
        const record = (): void => {
          const end = now();
          current.queries[kind] ??= { count: 0, totalMs: 0, maxMs: 0 };
          const entry = current.queries[kind];
          entry.count += 1;
          entry.totalMs += end - start;
          entry.maxMs = Math.max(entry.maxMs, end - start);
          if (kind === 'presence write' && current.presenceWrites.length < 200) {
            const keys = (args[1] as unknown[] | undefined)?.[1];
            current.presenceWrites.push({ start, end, sessions: Array.isArray(keys) ? keys.length : 0 });
          }
        };
        (result as Promise<unknown>).then(record, record);
      }
      return result;
    } as Pool['query'];
  };

  const flash = (message: string): Flash => ({ id: crypto.randomUUID(), key: 'notice', message, createdAt: new Date().toISOString() });

  return {
    async start({ databaseUrl, ours: withOurs, bare: withBare }) {
      const answer: { url?: string; bareUrl?: string } = {};
      if (withOurs) {
        // server/system.ts, ROLE=web, through the same factories: createFlashcast (store,
        // sessions, push, Socket.IO with its pool of its own) and the demo app on top, with
        // pools of ours so that their statements can be timed, and the app listening with a
        // backlog of 4,096 as the entry point does.
        const pool = createPool({ url: databaseUrl, logger });
        instrument(pool);
        const realtimePool = createPool({ url: databaseUrl, logger, max: 4 });
        instrument(realtimePool);
        const flashcast = await createFlashcast({
          databaseUrl,
          sessionSecrets: [BENCH_SECRET],
          opsToken: BENCH_OPS_TOKEN,
          sessionTtlSeconds: BENCH_TTL_SECONDS,
          role: 'web',
          logger,
          pools: { main: pool, realtime: realtimePool },
        });
        const { app } = createApp(
          {
            pool,
            logger,
            store: flashcast.store,
            sessions: flashcast.sessions,
            push: flashcast.push,
            // No page is rendered here; the built client need not exist.
            assets: () => ({ scripts: [], styles: [] }),
            clientDir: fileURLToPath(new URL('../dist/browser', import.meta.url)),
            ops: flashcast.routes,
          },
          // Thousands of visitors from one address: SESSION_RATE_LIMIT off, as for any load test.
          {
            sessionSecrets: [BENCH_SECRET],
            sessionTtlSeconds: BENCH_TTL_SECONDS,
            opsToken: BENCH_OPS_TOKEN,
            production: false,
            sessionRateLimit: 0,
          },
        );
        const server = createServer(app);
        answer.url = await listen(server, 4096);
        const realtime = flashcast.attach(server);
        // The push's one emit, timed on its way to `io`: t(emit) splits "write" from "emit".
        const to = realtime.io.to.bind(realtime.io);
        realtime.io.to = (room) => {
          lastEmitAt = now();
          return to(room);
        };
        realtime.io.on('connection', () => {
          const at = now();
          current.connections += 1;
          if (current.firstConnectionAt === 0) current.firstConnectionAt = at;
          current.lastConnectionAt = at;
        });
        ours = {
          push: flashcast.push,
          localSockets: () => realtime.presence.localSockets(),
          clients: () => realtime.io.engine.clientsCount,
        };
        closers.push(async () => {
          await flashcast.close();
          await closeHttp(server);
          await realtimePool.end();
          await pool.end();
        });
      }
      if (withBare) {
        // A bare Socket.IO server: defaults, in-memory adapter, no sessions, no database.
        const server = createServer();
        bare = new Server(server, { serveClient: false });
        bare.on('connection', () => {
          const at = now();
          bareConnections += 1;
          if (current.firstConnectionAt === 0) current.firstConnectionAt = at;
          current.lastConnectionAt = at;
        });
        answer.bareUrl = await listen(server);
        const io = bare;
        closers.push(async () => {
          io.engine.close();
          await closeHttp(server);
        });
      }
      return answer;
    },

    async push({ message }) {
      if (!ours) throw new Error('our server is not started');
      lastEmitAt = 0;
      const t0 = now();
      const written = await ours.push.flash('active', { key: 'notice', message });
      const tReturned = now();
      return { t0, tEmit: lastEmitAt, tEmitted: tReturned, tReturned, sessions: written.sessions };
    },

    async bareEmit({ message }) {
      if (!bare) throw new Error('the bare server is not started');
      const payload = flash(message);
      const t0 = now();
      bare.emit('flash', payload);
      return { t0, tEmitted: now() };
    },

    async memory() {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) {
        for (let i = 0; i < 3; i++) {
          gc();
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      const usage = process.memoryUsage();
      return {
        rss: usage.rss,
        heapUsed: usage.heapUsed,
        heapTotal: usage.heapTotal,
        external: usage.external,
        arrayBuffers: usage.arrayBuffers,
        gc: gc !== undefined,
        sockets: (ours?.clients() ?? 0) + (bare?.engine.clientsCount ?? 0),
      };
    },

    async stats() {
      const cpu = process.cpuUsage(cpuBase);
      return {
        ...current,
        cpuMs: (cpu.user + cpu.system) / 1000,
        localSockets: ours?.localSockets() ?? 0,
        eventLoopUtilization: performance.eventLoopUtilization(eluBase).utilization,
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        loopDelayMaxMs: loopDelay.max / 1e6,
        connections: current.connections + bareConnections,
      };
    },

    async heapSnapshot({ dir }) {
      (globalThis as { gc?: () => void }).gc?.();
      return writeHeapSnapshot(`${dir}/server-${process.pid}-${Date.now()}.heapsnapshot`);
    },

    async resetStats() {
      current = stats();
      bareConnections = 0;
      cpuBase = process.cpuUsage();
      eluBase = performance.eventLoopUtilization();
      loopDelay.reset();
      return null;
    },

    async stop() {
      for (const close of closers.splice(0).reverse()) await close();
      return null;
    },
  };
}

// --- the clients process ------------------------------------------------------------------------

export interface OpenResult {
  /** Just before the first socket was created. */
  tStart: number;
  /** When the loop creating them (the last batch) had returned. */
  tCreated: number;
  /** When the last one connected (or failed). */
  tSettled: number;
  connected: number;
  failed: number;
  /** A few of the connect_error messages, for the report. */
  errors: string[];
  /** ms from tStart to each socket's `connect`, sorted. */
  connectMs: number[];
  cpuMs: number;
}

export type ClientsApi = {
  /**
   * Opens `cookies.length` (or `count` cookie-less) sockets, all at once or `batch` at a time
   * (each batch once the previous one settled); resolves when all settled.
   */
  open(args: { group: string; url: string; cookies?: string[]; count?: number; batch?: number; timeoutMs?: number }): Promise<OpenResult>;
  /** Forgets the group's arrivals: the next `flash` each socket gets is recorded. */
  reset(args: { group: string }): Promise<null>;
  /** Waits until every socket of the group has a flash (or the timeout); answers arrival times. */
  collect(args: { group: string; timeoutMs: number }): Promise<{ arrivals: number[]; missing: number; cpuMs: number }>;
  close(args: { group: string }): Promise<null>;
  cpu(): Promise<number>;
};

interface Group {
  sockets: ClientSocket[];
  arrivals: Float64Array;
  received: number;
  onComplete?: () => void;
}

async function clientsRole(): Promise<ClientsApi> {
  const { io } = await import('socket.io-client');
  const groups = new Map<string, Group>();
  const cpuMs = (): number => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const group = (name: string): Group => {
    const found = groups.get(name);
    if (!found) throw new Error(`no group ${name}`);
    return found;
  };

  return {
    open({ group: name, url, cookies, count, batch, timeoutMs = 60_000 }) {
      const total = cookies?.length ?? count ?? 0;
      const g: Group = { sockets: [], arrivals: new Float64Array(total), received: 0 };
      groups.set(name, g);
      const connectMs: number[] = [];
      const errors: string[] = [];
      let failed = 0;
      const cpuBefore = cpuMs();
      return new Promise((resolve) => {
        let settled = 0;
        let tCreated = 0;
        const tStart = now();
        let created = 0;
        const done = (): void => {
          settled += 1;
          if (settled === total) finish();
          else if (settled === created) createNext();
        };
        const finish = (): void => {
          clearTimeout(timer);
          connectMs.sort((a, b) => a - b);
          resolve({
            tStart,
            tCreated,
            tSettled: now(),
            connected: connectMs.length,
            failed,
            errors,
            connectMs,
            cpuMs: cpuMs() - cpuBefore,
          });
        };
        const timer = setTimeout(() => {
          failed += total - settled;
          errors.push(`${total - settled} sockets neither connected nor failed within ${timeoutMs} ms`);
          settled = total;
          finish();
        }, timeoutMs);
        const createNext = (): void => {
          const end = Math.min(total, created + (batch ?? total));
          for (let i = created; i < end; i++) createSocket(i);
          created = end;
          tCreated = now();
        };
        const createSocket = (i: number): void => {
          const extraHeaders: Record<string, string> = { origin: url };
          const cookie = cookies?.[i];
          if (cookie) extraHeaders.cookie = cookie;
          const socket = io(url, { forceNew: true, transports: ['websocket'], reconnection: false, timeout: timeoutMs, extraHeaders });
          socket.once('connect', () => {
            connectMs.push(now() - tStart);
            done();
          });
          socket.once('connect_error', (error: Error & { data?: { code?: string }; description?: { message?: string; error?: Error } }) => {
            failed += 1;
            const cause = error.description?.error?.message ?? error.description?.message;
            if (errors.length < 5)
              errors.push(`${error.message}${error.data?.code ? ` (${error.data.code})` : ''}${cause ? `: ${cause}` : ''}`);
            done();
          });
          socket.on('flash', () => {
            if (g.arrivals[i] !== 0) return;
            g.arrivals[i] = now();
            g.received += 1;
            if (g.received === total) g.onComplete?.();
          });
          g.sockets.push(socket);
        };
        if (total === 0) finish();
        else createNext();
      });
    },

    async reset({ group: name }) {
      const g = group(name);
      g.arrivals.fill(0);
      g.received = 0;
      return null;
    },

    collect({ group: name, timeoutMs }) {
      const g = group(name);
      const answer = () => ({
        arrivals: Array.from(g.arrivals).filter((t) => t !== 0),
        missing: g.sockets.length - g.received,
        cpuMs: cpuMs(),
      });
      if (g.received === g.sockets.length) return Promise.resolve(answer());
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(answer()), timeoutMs);
        g.onComplete = () => {
          clearTimeout(timer);
          g.onComplete = undefined;
          resolve(answer());
        };
      });
    },

    async close({ group: name }) {
      const g = groups.get(name);
      groups.delete(name);
      for (const socket of g?.sockets ?? []) socket.disconnect();
      return null;
    },

    async cpu() {
      return cpuMs();
    },
  };
}

// --- the bench side ---------------------------------------------------------------------------------

export const startServerProcess = (options: { exposeGc?: boolean } = {}) => startChild<ServerApi>('server', options);
export const startClientsProcess = () => startChild<ClientsApi>('clients');

/** Throws unless the child may open `sockets` more files (with some to spare). */
export function checkFileLimit(child: { nofile: number }, sockets: number, who: string): void {
  if (!(child.nofile >= sockets + 256)) {
    throw new Error(`the ${who} process may open ${child.nofile} files, too few for ${sockets} sockets (raise ulimit -n)`);
  }
}

export interface PresenceSeen {
  activeSessions: number;
  sockets: number;
  /** When the answer that matched arrived. */
  at: number;
  polls: number;
}

/** Polls GET /ops/api/presence until `until` holds; rejects after `timeoutMs`. */
export async function waitForPresence(
  url: string,
  until: (counts: { activeSessions: number; sockets: number }) => boolean,
  options: { intervalMs?: number; timeoutMs?: number } = {},
): Promise<PresenceSeen> {
  const { intervalMs = 50, timeoutMs = 60_000 } = options;
  const deadline = now() + timeoutMs;
  let polls = 0;
  let last = { activeSessions: -1, sockets: -1 };
  while (now() < deadline) {
    polls += 1;
    const response = await fetch(`${url}/ops/api/presence`, { headers: { authorization: `Bearer ${BENCH_OPS_TOKEN}` } });
    if (response.status !== 200) throw new Error(`GET /ops/api/presence answered ${response.status}`);
    last = (await response.json()) as typeof last;
    if (until(last)) return { ...last, at: now(), polls };
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`presence still ${JSON.stringify(last)} after ${timeoutMs} ms`);
}

/** TCP listen-queue counters of this network namespace (/proc/net/netstat), for storm diagnosis. */
export function listenCounters(): { listenOverflows: number; listenDrops: number; syncookiesSent: number } {
  let lines: string[] = [];
  try {
    lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  } catch {
    // Not Linux: NaN.
  }
  const [header = [], values = []] = lines.filter((line) => line.startsWith('TcpExt:')).map((line) => line.split(/\s+/));
  const get = (field: string): number => (header.includes(field) ? Number(values[header.indexOf(field)]) : Number.NaN);
  return { listenOverflows: get('ListenOverflows'), listenDrops: get('ListenDrops'), syncookiesSent: get('SyncookiesSent') };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// --- entry point of the children ------------------------------------------------------------------

const isChild = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isChild && process.send) {
  const role = process.argv[2];
  const api = role === 'server' ? await serverRole() : role === 'clients' ? await clientsRole() : undefined;
  if (!api) throw new Error(`unknown role ${role}: use "server" or "clients"`);
  serveRpc(api as unknown as Api);
}
