import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { Server } from 'socket.io';
import { io as connectClient, type Socket as ClientSocket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAgenda, type AgendaHandle } from '../../jobs/agenda.ts';
import { migrate } from '../../server/db/migrate.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';
import type { Logger } from '../../server/logger.ts';
import { createClusterAdapter } from '../../server/realtime/cluster.ts';
import { testLogger } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

/**
 * The libraries' long-lived LISTEN connections (the Socket.IO adapter's, Agenda's
 * notification channel's) survive losing them: a terminated backend or a database that
 * refuses connections for a while costs a pause, never the process (an unhandled 'error'
 * event here fails the run), never a pool slot, and logs one warning per outage.
 */

const ROUNDS = 10;
const POOL_MAX = 4;

let database: TestDatabase;
let admin: pg.Client;

beforeAll(async () => {
  database = await createTestDatabase();
  await migrate({ databaseUrl: database.url, logger: testLogger });
  admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
});
afterAll(async () => {
  await admin?.end();
  await database?.drop();
});

interface LogRecord {
  level: number;
  msg: string;
  component?: string;
  err?: Record<string, unknown>;
  error?: Record<string, unknown>;
}

/** A pino logger whose lines the test can read. */
function recordingLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line) as LogRecord) });
  return { logger, records };
}

const WARN = 40;
const INFO = 30;

/** The LISTEN backends whose last statement listened on a channel starting with `prefix`. */
async function listenBackends(prefix: string): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND query ILIKE $1 AND pid <> pg_backend_pid()`,
    [`LISTEN "${prefix}%`],
  );
  return rows[0]!.n;
}

/**
 * pg_terminate_backend of those LISTEN backends; resolves with how many it terminated, once
 * they are gone (a terminated backend lingers in pg_stat_activity for a moment).
 */
async function terminateListeners(prefix: string): Promise<number> {
  const { rows } = await admin.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND query ILIKE $1 AND pid <> pg_backend_pid() AND pg_terminate_backend(pid)`,
    [`LISTEN "${prefix}%`],
  );
  const pids = rows.map((row) => row.pid);
  await until(async () => {
    const { rows: left } = await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)', [pids]);
    return left.length === 0;
  }, 'the terminated backends to exit');
  return pids.length;
}

/**
 * The database refuses new connections for `ms` and drops every existing one but the
 * admin's: the LISTEN clients' reconnections fail for a while (the pools hold no idle
 * client to hand out instead).
 */
async function refuseConnectionsFor(ms: number): Promise<void> {
  // PostgreSQL refuses to disallow connections to the database a session is in.
  const server = new pg.Client({ connectionString: inject('databaseUrl') });
  await server.connect();
  const name = server.escapeIdentifier(new URL(database.url).pathname.slice(1));
  try {
    await server.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    try {
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
      );
      await sleep(ms);
    } finally {
      await server.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
    }
  } finally {
    await server.end();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`${what} did not finish within ${ms} ms`)))]);
}

/**
 * Every warning and info line of `component`. A warning's `error` carries a message and a
 * code, never a pg error's internals (nor a stack: it is not passed to pino's err serializer).
 */
function outageLines(records: LogRecord[], component: string): { warnings: LogRecord[]; recoveries: LogRecord[] } {
  const mine = records.filter((record) => record.component === component);
  for (const record of mine) {
    expect(record.err).toBeUndefined();
    if (record.level !== WARN) continue;
    expect(Object.keys(record.error ?? {}).sort()).toEqual(expect.arrayContaining(['message']));
    expect(Object.keys(record.error ?? {}).filter((key) => !['message', 'code'].includes(key))).toEqual([]);
  }
  return { warnings: mine.filter((record) => record.level === WARN), recoveries: mine.filter((record) => record.level === INFO) };
}

describe('when the Socket.IO adapter loses its LISTEN connection', () => {
  const { logger, records } = recordingLogger();
  let pools: Pool[];
  let ioA: Server;
  let ioB: Server;
  let socket: ClientSocket;
  const received: string[] = [];

  beforeAll(async () => {
    // Two web processes, each with its own pool (max 4, as in production) and adapter.
    pools = [
      createPool({ url: database.url, logger: testLogger, max: POOL_MAX }),
      createPool({ url: database.url, logger: testLogger, max: POOL_MAX }),
    ];
    const [httpA, httpB] = [createServer(), createServer()];
    ioA = new Server(httpA, { adapter: createClusterAdapter(pools[0]!, logger) });
    ioB = new Server(httpB, { adapter: createClusterAdapter(pools[1]!, logger) });
    for (const http of [httpA, httpB]) await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = httpA.address() as AddressInfo;
    socket = connectClient(`http://127.0.0.1:${port}`, { transports: ['websocket'], forceNew: true, reconnection: false });
    socket.on('probe', (id: string) => void received.push(id));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
  });

  /** Emits from the other server until the socket on the first one receives it. */
  async function broadcastArrives(): Promise<void> {
    const id = randomUUID();
    await until(async () => {
      ioB.emit('probe', id);
      await sleep(200);
      return received.includes(id);
    }, 'a broadcast from the other server');
  }

  const bothListening = () => until(async () => (await listenBackends('socket.io')) === 2, 'both adapters to LISTEN again');

  it('then, terminated ten times in a row, it reconnects each time, within its pool, and broadcasts arrive', async () => {
    await broadcastArrives();
    for (let round = 0; round < ROUNDS; round += 1) {
      await bothListening();
      expect(await terminateListeners('socket.io')).toBe(2);
      await broadcastArrives();
      for (const pool of pools) expect(pool.totalCount).toBeLessThanOrEqual(POOL_MAX);
    }
    await bothListening();
    const { warnings, recoveries } = outageLines(records, 'Socket.IO adapter');
    // One warning per adapter per loss at most (two adapters, ten losses), never one per retry.
    expect(warnings.length).toBeGreaterThanOrEqual(ROUNDS);
    expect(warnings.length).toBeLessThanOrEqual(2 * ROUNDS);
    expect(recoveries.length).toBeGreaterThanOrEqual(ROUNDS);
  }, 120_000);

  it('then, while the database refuses connections, it keeps retrying and comes back after', async () => {
    await bothListening();
    const before = outageLines(records, 'Socket.IO adapter').warnings.length;
    await refuseConnectionsFor(4000);
    // Another client of each pool connects (presence does, in a web process): the LISTEN
    // follows at once, not when the adapter's own timer (1 to 3 s) would have fired.
    for (const pool of pools) await pool.query('SELECT 1');
    await until(async () => (await listenBackends('socket.io')) === 2, 'both adapters to LISTEN at once', 900);
    await broadcastArrives();
    await bothListening();
    for (const pool of pools) expect(pool.totalCount).toBeLessThanOrEqual(POOL_MAX);
    // One warning per adapter for the whole outage, however many reconnections failed.
    expect(outageLines(records, 'Socket.IO adapter').warnings.length - before).toBe(2);
  }, 60_000);

  it('then closing afterwards releases everything: the pools end', async () => {
    socket.disconnect();
    await new Promise<void>((resolve) => ioA.close(() => resolve()));
    await new Promise<void>((resolve) => ioB.close(() => resolve()));
    for (const pool of pools) await withTimeout(pool.end(), 5000, 'pool.end()');
    for (const pool of pools) expect(pool.totalCount).toBe(0);
  });
});

describe("when Agenda's notification channel loses its LISTEN connection", () => {
  const { logger, records } = recordingLogger();
  let pools: Pool[];
  let worker: AgendaHandle;
  let web: AgendaHandle;
  const ran = new Set<string>();
  const states: string[] = [];

  /** Agenda keeps its channel private; the test watches its state. */
  const channelOf = (handle: AgendaHandle) =>
    (
      handle.agenda as unknown as {
        notificationChannel: { state: string; on(event: 'stateChange', listener: (state: string) => void): void };
      }
    ).notificationChannel;

  beforeAll(async () => {
    pools = [
      createPool({ url: database.url, logger: testLogger, max: POOL_MAX }),
      createPool({ url: database.url, logger: testLogger, max: POOL_MAX }),
    ];
    // A scan once a minute: a job picked up within seconds came through a notification.
    worker = await createAgenda({ pool: pools[0]!, logger, processName: `worker-${randomUUID()}`, processEvery: '1 minute' });
    worker.agenda.define('listen-probe', async (job) => {
      ran.add((job.attrs.data as { id: string }).id);
    });
    await worker.agenda.start();
    channelOf(worker).on('stateChange', (state) => states.push(state));
    web = await createAgenda({ pool: pools[1]!, logger, processName: `web-${randomUUID()}` });
    await web.agenda.start();
  });

  async function enqueuedJobRuns(): Promise<void> {
    const id = randomUUID();
    await web.agenda.now('listen-probe', { id });
    await until(() => ran.has(id), 'the worker to run a job it was notified of', 10_000);
  }

  const bothConnected = () =>
    until(
      async () => channelOf(worker).state === 'connected' && channelOf(web).state === 'connected' && (await listenBackends('agenda')) === 2,
      'both channels to be connected again',
    );

  it('then, terminated ten times in a row, it reconnects each time and notifications reach the worker', async () => {
    await bothConnected();
    await enqueuedJobRuns();
    for (let round = 0; round < ROUNDS; round += 1) {
      states.length = 0;
      expect(await terminateListeners('agenda')).toBe(2);
      await bothConnected();
      // It did notice: it left 'connected' and came back.
      expect(states).toContain('reconnecting');
      expect(states.at(-1)).toBe('connected');
      for (const pool of pools) expect(pool.totalCount).toBeLessThanOrEqual(POOL_MAX);
      await enqueuedJobRuns();
    }
    const { warnings, recoveries } = outageLines(records, 'Agenda notifications');
    expect(warnings.length).toBe(2 * ROUNDS);
    expect(recoveries.length).toBe(2 * ROUNDS);
  }, 120_000);

  it('then, while the database refuses connections, it keeps retrying (no unhandled rejection) and comes back after', async () => {
    await bothConnected();
    const before = outageLines(records, 'Agenda notifications').warnings.length;
    await refuseConnectionsFor(4000);
    // By now the backoff waits seconds; another client of the pool connecting cuts it short.
    for (const pool of pools) await pool.query('SELECT 1');
    await until(async () => (await listenBackends('agenda')) === 2, 'both channels to LISTEN at once', 900);
    await bothConnected();
    await enqueuedJobRuns();
    for (const pool of pools) expect(pool.totalCount).toBeLessThanOrEqual(POOL_MAX);
    expect(outageLines(records, 'Agenda notifications').warnings.length - before).toBe(2);
  }, 60_000);

  it('then stopping afterwards releases everything: the pools end', async () => {
    await web.stop();
    await worker.stop();
    for (const pool of pools) await withTimeout(pool.end(), 5000, 'pool.end()');
    for (const pool of pools) expect(pool.totalCount).toBe(0);
  });
});
