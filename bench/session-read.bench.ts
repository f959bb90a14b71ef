import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import connectPgSimple from 'connect-pg-simple';
import express, { type RequestHandler } from 'express';
import session from 'express-session';
import type { Flash } from '../protocol/events.ts';
import { createPool, type Pool } from '../server/db/pool.ts';
import { createSessionMiddleware, SESSION_COOKIE } from '../server/http/session-middleware.ts';
import { SessionStore } from '../server/sessions/session-store.ts';
import { createSessions } from '../server/sessions/sessions.ts';
import { renderHome } from '../server/web/store-pages.ts';
import {
  countStatements,
  equals,
  measurePostgresCpu,
  ownCpuMs,
  percentile,
  relative,
  type BenchContext,
  type BenchResult,
  type StatementCounter,
} from './harness.ts';
import { runLoad, type LoadResult } from './load-generator.ts';

/**
 * GET / with a session cookie under 50 connections, on the same minimal express app with
 * three stores: ours, express-session's MemoryStore and the stock connect-pg-simple store.
 * The page shows the session's one pending flash, so every store must really load it.
 */

export const name = 'session-read';

const CONNECTIONS = 50;
const WARMUP_SECONDS = 3;
const DURATION_SECONDS = 10;
const ROUNDS = 3;
/** Sessions the load cycles through, one cookie per request in turn. */
const SESSIONS = 1000;
const TTL_SECONDS = 86_400;
const SECRET = 'bench-secret-not-for-production';
const FLASH_MESSAGE = 'Free shipping on every order today';
const STOCK_TABLE = 'stock_session';

const assets = { scripts: ['/assets/main-3f2a1b.js'], styles: ['/assets/main-9c8d7e.css'] };

interface Variant {
  label: string;
  middleware: RequestHandler;
  /** Our store presents flashes from its table; the others keep them in the session. */
  flashInSession: boolean;
  /** Called once the sessions exist (ours writes the flash to all of them here). */
  afterSeed(): Promise<void>;
  /** Writes since the last reset: SQL statements for PostgreSQL stores, set/touch calls for MemoryStore. */
  counter: { total: number; writes: number; reset(): void };
  storedSessions(): Promise<number>;
  close(): Promise<void>;
}

/** The options of server/http/session-middleware.ts, for the stores that are not ours (no genid). */
function mirroredMiddleware(store: session.Store): RequestHandler {
  return session({
    name: SESSION_COOKIE,
    store,
    secret: [SECRET],
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { httpOnly: true, sameSite: 'lax', secure: false, maxAge: TTL_SECONDS * 1000 },
  });
}

function poolCounter(pool: Pool): StatementCounter {
  return countStatements(pool);
}

async function oursVariant(ctx: BenchContext): Promise<Variant> {
  const pool = createPool({ url: ctx.databaseUrl, logger: ctx.logger });
  const counter = poolCounter(pool);
  const store = new SessionStore({ pool, ttlSeconds: TTL_SECONDS });
  const sessions = createSessions({ pool });
  return {
    label: 'ours (SessionStore)',
    middleware: createSessionMiddleware({ store, secrets: [SECRET], ttlSeconds: TTL_SECONDS, secureCookies: false }),
    flashInSession: false,
    afterSeed: async () => {
      await sessions.writeFlash('all', { key: 'notice', message: FLASH_MESSAGE });
    },
    counter,
    storedSessions: async () => Number((await pool.query('SELECT count(*) AS n FROM session')).rows[0].n),
    close: () => pool.end(),
  };
}

async function memoryVariant(): Promise<Variant> {
  const store = new session.MemoryStore();
  const counter = { total: 0, writes: 0, reset: () => Object.assign(counter, { total: 0, writes: 0 }) };
  for (const method of ['set', 'touch'] as const) {
    const original = store[method].bind(store) as (...args: unknown[]) => void;
    (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      counter.total += 1;
      counter.writes += 1;
      original(...args);
    };
  }
  return {
    label: 'express-session MemoryStore',
    middleware: mirroredMiddleware(store),
    flashInSession: true,
    afterSeed: async () => undefined,
    counter,
    storedSessions: () => new Promise((resolve, reject) => store.length((error, length) => (error ? reject(error) : resolve(length ?? 0)))),
    close: async () => undefined,
  };
}

async function stockVariant(ctx: BenchContext): Promise<Variant> {
  const pool = createPool({ url: ctx.databaseUrl, logger: ctx.logger });
  // connect-pg-simple's own table.sql, under another name so it sits beside ours.
  const tableSql = await fs.readFile(createRequire(import.meta.url).resolve('connect-pg-simple/table.sql'), 'utf8');
  await pool
    .query(tableSql.replaceAll('"session', `"${STOCK_TABLE}`).replaceAll('IDX_session', `IDX_${STOCK_TABLE}`))
    .catch(async (error: unknown) => {
      await pool.end();
      throw error;
    });
  const counter = poolCounter(pool);
  const PGStore = connectPgSimple(session);
  // Default options, except its own table and no prune timer.
  const store = new PGStore({ pool, tableName: STOCK_TABLE, pruneSessionInterval: false });
  return {
    label: 'stock connect-pg-simple',
    middleware: mirroredMiddleware(store),
    flashInSession: true,
    afterSeed: async () => undefined,
    counter,
    storedSessions: async () => Number((await pool.query(`SELECT count(*) AS n FROM ${STOCK_TABLE}`)).rows[0].n),
    close: async () => {
      store.close();
      await pool.end();
    },
  };
}

function createBenchApp(variant: Variant) {
  const app = express();
  app.disable('x-powered-by');
  app.use(variant.middleware);
  app.get('/', (req, res) => {
    res.type('html').send(renderHome({ flashes: req.session.flash ?? [], products: [], cartCount: 0, assets }));
  });
  // Setup only: creates a session, with its flash inside for the stores that keep it there.
  app.post('/seed', (req, res, next) => {
    req.session.startedAt = Date.now();
    if (variant.flashInSession) {
      const flash: Flash = { id: randomUUID(), key: 'notice', message: FLASH_MESSAGE, createdAt: new Date().toISOString() };
      req.session.flash = [flash];
    }
    req.session.save((error) => (error ? next(error) : res.status(204).end()));
  });
  return app;
}

async function seed(baseUrl: string, count: number): Promise<string[]> {
  const cookies: string[] = [];
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < count) {
      started += 1;
      const response = await fetch(`${baseUrl}/seed`, { method: 'POST' });
      const cookie = response.headers.getSetCookie().find((value) => value.startsWith(`${SESSION_COOKIE}=`));
      if (response.status !== 204 || !cookie) throw new Error(`seeding a session answered ${response.status} without a cookie`);
      cookies.push(cookie.split(';')[0]!);
    }
  };
  await Promise.all(Array.from({ length: 10 }, worker));
  return cookies;
}

interface Running {
  variant: Variant;
  baseUrl: string;
  cookies: string[];
  rounds: Round[];
  stop(): Promise<void>;
}

interface Round {
  load: LoadResult;
  statements: number;
  writes: number;
  /** CPU ms per request: the server process, PostgreSQL (all its processes), the load generator. */
  cpu: { server: number; postgres: number; load: number };
}

/** Listens, creates the sessions, and checks that a page shows the session's flash. */
async function start(variant: Variant): Promise<Running> {
  const server = createBenchApp(variant).listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const stop = async (): Promise<void> => {
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
    await variant.close();
  };
  try {
    const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cookies = await seed(baseUrl, SESSIONS);
    await variant.afterSeed();
    // A page must show the flash: proof that the store loaded the session, not a fresh one.
    for (const cookie of [cookies[0]!, cookies[cookies.length - 1]!]) {
      const body = await (await fetch(`${baseUrl}/`, { headers: { cookie } })).text();
      if (!body.includes('data-flash-id') || !body.includes(FLASH_MESSAGE)) {
        throw new Error(`${variant.label}: GET / with a session cookie did not show the session's flash`);
      }
    }
    return { variant, baseUrl, cookies, rounds: [], stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function measureRound(running: Running, admin: Pool): Promise<Round> {
  const { variant } = running;
  let serverCpuAtStart = 0;
  let postgresCpu: { stop(): Promise<number> } | undefined;
  const load = await runLoad(
    {
      url: running.baseUrl,
      connections: CONNECTIONS,
      warmupSeconds: WARMUP_SECONDS,
      durationSeconds: DURATION_SECONDS,
      cookies: running.cookies,
    },
    async () => {
      postgresCpu = await measurePostgresCpu(admin);
      serverCpuAtStart = ownCpuMs();
      variant.counter.reset();
    },
  );
  const serverCpu = ownCpuMs() - serverCpuAtStart;
  const pgCpu = (await postgresCpu?.stop()) ?? Number.NaN;
  if (load.non2xx + load.errors + load.timeouts > 0) {
    throw new Error(`${variant.label}: ${load.non2xx} non-2xx, ${load.errors} errors, ${load.timeouts} timeouts`);
  }
  return {
    load,
    statements: variant.counter.total,
    writes: variant.counter.writes,
    cpu: {
      server: serverCpu / load.requests,
      postgres: pgCpu / load.requests,
      load: load.cpuMs / load.requests,
    },
  };
}

interface Summary {
  label: string;
  rps: number;
  rpsRange: string;
  p50: number;
  p99: number;
  statementsPerRequest: number;
  writesPerRequest: number;
  cpu: string;
}

function summarize(running: Running): Summary {
  const { rounds } = running;
  const median = (pick: (round: Round) => number) => percentile(rounds.map(pick), 50);
  const requests = rounds.reduce((sum, round) => sum + round.load.requests, 0);
  const rpsAll = rounds.map((round) => Math.round(round.load.requestsPerSecond));
  return {
    label: running.variant.label,
    rps: Math.round(median((round) => round.load.requestsPerSecond)),
    rpsRange: `${Math.min(...rpsAll)}–${Math.max(...rpsAll)}`,
    p50: median((round) => round.load.latencyP50Ms),
    p99: median((round) => round.load.latencyP99Ms),
    statementsPerRequest: rounds.reduce((sum, round) => sum + round.statements, 0) / requests,
    writesPerRequest: rounds.reduce((sum, round) => sum + round.writes, 0) / requests,
    cpu: [median((r) => r.cpu.server), median((r) => r.cpu.postgres), median((r) => r.cpu.load)].map((ms) => ms.toFixed(2)).join(' + '),
  };
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const admin = createPool({ url: ctx.databaseUrl, logger: ctx.logger, max: 1 });
  const running: Running[] = [];
  try {
    running.push(await start(await memoryVariant()));
    running.push(await start(await stockVariant(ctx)));
    running.push(await start(await oursVariant(ctx)));
    await admin.query('VACUUM ANALYZE');
    // Rounds interleave the stores, each round in another order, so a burst of other work on
    // the machine or a checkpoint lands on all of them alike; the medians are reported.
    for (let round = 0; round < ROUNDS; round++) {
      for (let i = 0; i < running.length; i++) {
        const store = running[(i + round) % running.length]!;
        await admin.query('CHECKPOINT');
        ctx.logger.info(
          `round ${round + 1}/${ROUNDS}, ${store.variant.label}: ${WARMUP_SECONDS} s warm-up, ${DURATION_SECONDS} s measured`,
        );
        store.rounds.push(await measureRound(store, admin));
      }
    }
    for (const store of running) {
      const stored = await store.variant.storedSessions();
      if (stored !== SESSIONS) throw new Error(`${store.variant.label}: ${stored} sessions stored after the load, expected ${SESSIONS}`);
    }
    const [memory, stock, ours] = running.map(summarize) as [Summary, Summary, Summary];
    return {
      goals: [
        relative('GET / req/s, ours vs MemoryStore', ours.rps, { name: 'MemoryStore', value: memory.rps }, 0.6, 'req/s'),
        relative('GET / req/s, ours vs stock', ours.rps, { name: 'stock connect-pg-simple', value: stock.rps }, 1.5, 'req/s'),
        equals('SQL writes per read-only request, ours', ours.writesPerRequest, 0, 'writes/req'),
      ],
      tables: [
        {
          title: `GET / with a session cookie, ${CONNECTIONS} connections, ${DURATION_SECONDS} s after ${WARMUP_SECONDS} s warm-up; median of ${ROUNDS} interleaved rounds`,
          columns: [
            'store',
            'req/s',
            'req/s range',
            'p50 ms',
            'p99 ms',
            'statements/req',
            'writes/req',
            'CPU ms/req: server + PostgreSQL + load gen',
          ],
          rows: [memory, stock, ours].map((m) => [
            m.label,
            m.rps,
            m.rpsRange,
            m.p50,
            m.p99,
            m.label.startsWith('express-session') ? '– (no SQL)' : Number(m.statementsPerRequest.toFixed(3)),
            Number(m.writesPerRequest.toFixed(3)),
            m.cpu,
          ]),
        },
      ],
      notes: [
        `Same express app for all three (session middleware with server/http/session-middleware.ts's options, then renderHome with the session's one pending flash, no products), ${SESSIONS} sessions used in turn, pool of 20 for each PostgreSQL store.`,
        `autocannon runs in a child process, but on the same ${ctx.machine.cores} cores as the server and PostgreSQL (and whatever else the machine runs: see its load average): they compete for CPU, so absolute figures understate a server with its own machine; the goals compare stores measured side by side.`,
        'writes/req: INSERT/UPDATE/DELETE statements sent through the pool during the measured phases, per request; for MemoryStore, its set/touch calls. The stock store UPDATEs the expiry on every request (touch); ours only once a session has aged past 10% of its TTL.',
      ],
    };
  } finally {
    for (const store of running) await store.stop();
    await admin.end();
  }
}
