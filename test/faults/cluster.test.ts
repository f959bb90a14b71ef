import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../server/db/embedded-postgres.ts';
import { createLogger } from '../../server/logger.ts';
import { collectMaintenance, recordTransitions, ticks, type ReceivedEvent } from '../maintenance/support.ts';
import { collectFlashes, connected, eventually, openSocket, type TestSocket } from '../realtime/support.ts';
import { opsHeaders, Visitor } from '../support/http.ts';
import { startProcess, type StartedProcess } from '../support/process.ts';
import type { Flash } from '../../protocol/events.ts';

/**
 * The split deployment, as an operator runs it: two web processes and a worker, real
 * processes, on a PostgreSQL of this file's own, which the tests stop, start and cut the
 * connections of. Nothing may exit, no visitor may lose a flash, no second of a countdown
 * may be lost or doubled.
 */

const OPS_TOKEN = 'fault-test-ops-token-0123456789';
const SESSION_SECRET = 'fault-test-session-secret-0123456789';
const VISITORS_PER_WEB = 25;

let dataDir: string;
let port: number;
let database: EmbeddedDatabase;
const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
const processes: StartedProcess[] = [];
let web: [StartedProcess, StartedProcess];
let worker: StartedProcess;

interface Tab {
  visitor: Visitor;
  socket: TestSocket;
  flashes: Flash[];
  maintenance: ReceivedEvent[];
}
let tabs: Tab[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as net.AddressInfo;
      server.close(() => resolve(free));
    });
  });
}

const startDatabase = () => startEmbeddedPostgres({ dataDir, logger, port, ephemeral: true });

function start(role: 'web' | 'worker', extra: Record<string, string> = {}): Promise<StartedProcess> {
  const env = { DATABASE_URL: database.url, OPS_TOKEN, SESSION_SECRET, ROLE: role, LOG_LEVEL: 'info', ...extra };
  const started = role === 'worker' ? startProcess(env, undefined, /flashcast worker started/) : startProcess(env);
  return started.then((child) => {
    processes.push(child);
    return child;
  });
}

async function ops<T>(base: string, method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}/ops/api${route}`, {
    method,
    headers: { ...opsHeaders(OPS_TOKEN), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T };
}

async function openTab(base: string): Promise<Tab> {
  const visitor = new Visitor(base);
  expect((await visitor.request('/')).status).toBe(200);
  const socket = openSocket(base, visitor);
  const tab = { visitor, socket, flashes: collectFlashes(socket), maintenance: collectMaintenance(socket) };
  await connected(socket);
  return tab;
}

const alive = (child: StartedProcess) => child.child.exitCode === null && child.child.signalCode === null;

/** A pushed flash reaches every tab; the push reports every session. */
async function pushReachesEveryone(message: string): Promise<void> {
  await eventually(async () =>
    expect((await ops<{ activeSessions: number }>(web[0].url, 'GET', '/presence')).body.activeSessions).toBe(tabs.length),
  );
  const pushed = await ops<{ sessions: number }>(web[1].url, 'POST', '/flashes', { to: 'active', key: 'notice', message });
  expect(pushed).toMatchObject({ status: 201, body: { sessions: tabs.length } });
  await eventually(() => {
    for (const tab of tabs) expect(tab.flashes.map((flash) => flash.message)).toContain(message);
  });
}

/** Both web processes answer /readyz 200 again. */
async function ready(): Promise<void> {
  await eventually(async () => {
    for (const child of web) expect((await fetch(`${child.url}/readyz`)).status).toBe(200);
  });
}

/** A countdown started on one web process ticks every second on the tabs of both, then gates both. */
async function countdownReachesEveryone(seconds: number): Promise<void> {
  for (const tab of tabs) tab.maintenance.length = 0;
  const started = await ops<{ deadline: string }>(web[0].url, 'POST', '/maintenance', { seconds });
  expect(started.status).toBe(202);
  await eventually(() => {
    for (const tab of tabs) expect(tab.maintenance.some((event) => event.state === 'active')).toBe(true);
  });
  const expected = Array.from({ length: seconds }, (_, i) => seconds - i);
  for (const tab of tabs) expect(ticks(tab.maintenance)).toEqual(expected);
  for (const child of web) {
    const page = await fetch(`${child.url}/`);
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBeTruthy();
  }
  expect((await ops(web[1].url, 'DELETE', '/maintenance')).status).toBe(200);
}

/** The backends holding a LISTEN, of every process (the adapter, Agenda, the maintenance view). */
async function listeningBackends(): Promise<number> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

async function terminateListeners(): Promise<number> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rowCount } = await client.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()`,
    );
    return rowCount ?? 0;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'flashcast-faults-'));
  await fs.chmod(dataDir, 0o755);
  port = await freePort();
  database = await startDatabase();
  web = [await start('web'), await start('web')];
  worker = await start('worker');
  tabs = [];
  for (const child of web) for (let i = 0; i < VISITORS_PER_WEB; i += 1) tabs.push(await openTab(child.url));
}, 120_000);

afterAll(async () => {
  for (const tab of tabs) tab.socket.disconnect();
  const exits = processes.filter(alive).map(async (child) => {
    process.kill(child.child.pid!, 'SIGTERM');
    return { code: await child.exited, output: child.output() };
  });
  const ended = await Promise.all(exits);
  await database?.stop();
  await fs.rm(dataDir, { recursive: true, force: true });
  // SIGTERM still finishes, after everything these tests did to the processes.
  for (const { code, output } of ended) expect(code, output).toBe(0);
}, 120_000);

describe('when two web processes and a worker share one database', () => {
  it('then a push reaches the visitors of both, and a countdown ticks and gates on both', async () => {
    await pushReachesEveryone('before any fault');
    await countdownReachesEveryone(2);
  });
});

describe('when PostgreSQL restarts under them', () => {
  it('then visitor pages answer 503 with Retry-After meanwhile, and nothing exits', async () => {
    await database.stop();
    const page = await tabs[0]!.visitor.request('/');
    expect(page.status).toBe(503);
    expect(page.headers.get('retry-after')).toBeTruthy();
    expect(await page.text()).toContain('cannot reach our database');
    const api = await tabs[1]!.visitor.request('/api/flashes');
    expect(api.status).toBe(503);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    await eventually(async () => expect((await fetch(`${web[1].url}/readyz`)).status).toBe(503));
    expect((await fetch(`${web[1].url}/healthz`)).status).toBe(503);

    database = await startDatabase();
    await ready();
    for (const child of processes) expect(alive(child), child.output()).toBe(true);
    // The sockets stayed open through it all.
    for (const tab of tabs) expect(tab.socket.connected).toBe(true);
  });

  it('then presence is rebuilt, a push reaches everyone, and a countdown ticks and gates on both', async () => {
    await pushReachesEveryone('after a restart');
    await countdownReachesEveryone(2);
  });

  it('then each process logged the outage once per component, with no pg internals', () => {
    expect(web[0].output()).toMatch(/"level":40[^\n]*"statusCode":503/);
    for (const child of processes) {
      const output = child.output();
      expect(output).not.toMatch(/Unhandled/i);
      // One "lost the database" line per component per outage, never one per retry.
      const lost = output.split('\n').filter((line) => line.includes('lost the database'));
      const components = lost.map((line) => (JSON.parse(line) as { component: string }).component);
      expect(new Set(components).size).toBe(components.length);
      expect(output).not.toMatch(/"_ending"|"_connecting"|"connectionParameters"/);
      // The 503s of the outage are request log lines at warn, without a made-up error's stack.
      expect(output).not.toContain('failed with status code');
    }
  });
});

describe('when every LISTEN connection is terminated, ten times in a row', () => {
  it('then every process listens again each time, a push reaches everyone, new sockets connect, and a countdown gates both', async () => {
    const expected = await listeningBackends();
    expect(expected).toBeGreaterThanOrEqual(8); // 3 per web process, 2 for the worker
    for (let round = 0; round < 10; round += 1) {
      expect(await terminateListeners()).toBeGreaterThan(0);
      await eventually(async () => expect(await listeningBackends()).toBe(expected));
    }
    for (const child of processes) expect(alive(child), child.output()).toBe(true);
    await pushReachesEveryone('after ten lost LISTEN connections');
    // The realtime pool still serves handshakes: nothing leaked a connection.
    const extra = await Promise.all(web.map((child) => openTab(child.url)));
    tabs.push(...extra);
    await pushReachesEveryone('to new tabs too');
    await countdownReachesEveryone(2);
  });
});

describe('when the worker is killed (SIGKILL) in the middle of a countdown and a new one starts', () => {
  it('then no tab misses or repeats a second, and maintenance begins once', async () => {
    const transitions = await recordTransitions(database.url);
    try {
      for (const tab of tabs) tab.maintenance.length = 0;
      const started = await ops<{ deadline: string }>(web[0].url, 'POST', '/maintenance', { seconds: 5 });
      expect(started.status).toBe(202);
      await eventually(() => expect(tabs.every((tab) => ticks(tab.maintenance).includes(4))).toBe(true));
      process.kill(worker.child.pid!, 'SIGKILL');
      await worker.exited;
      worker = await start('worker');

      await eventually(() => {
        for (const tab of tabs) expect(tab.maintenance.some((event) => event.state === 'active')).toBe(true);
      });
      for (const tab of tabs) {
        expect(ticks(tab.maintenance)).toEqual([5, 4, 3, 2, 1]);
        expect(tab.maintenance.filter((event) => event.state === 'active')).toHaveLength(1);
      }
      expect(transitions.states).toEqual(['countdown', 'active']);
    } finally {
      await transitions.close();
    }
    expect((await ops(web[0].url, 'DELETE', '/maintenance')).status).toBe(200);
  });
});

describe('when a web process’s clock is 3 s fast', () => {
  it('then it still ticks and closes its gate on the deadline, on the database’s clock', async () => {
    const skewed = await start('web', { NODE_ENV: 'test', FLASHCAST_TEST_CLOCK_SKEW_MS: '3000' });
    const tab = await openTab(skewed.url);
    // Give its health check a few samples of the database's clock.
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const started = await ops<{ deadline: string }>(web[0].url, 'POST', '/maintenance', { seconds: 4 });
    const deadline = Date.parse(started.body.deadline);
    // The gate, polled: open until the deadline, closed after it.
    const gate: Array<{ at: number; status: number }> = [];
    while (Date.now() < deadline + 500) {
      const at = Date.now();
      const response = await fetch(`${skewed.url}/api/flashes`, { headers: { cookie: tab.visitor.cookieHeader } });
      await response.arrayBuffer();
      gate.push({ at, status: response.status });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await eventually(() => expect(tab.maintenance.some((event) => event.state === 'active')).toBe(true));

    // This machine's clock is the database's (the embedded server runs here).
    const countdown = tab.maintenance.filter((event) => event.state === 'countdown');
    expect(countdown.map((event) => event.secondsLeft)).toEqual([4, 3, 2, 1]);
    const lateness = countdown.map((event) => event.receivedAt - (deadline - event.secondsLeft! * 1000));
    // Never early (a tick sent early would have come from the skewed clock: 3 s early).
    for (const late of lateness.slice(1)) expect(late).toBeGreaterThanOrEqual(-100);
    const sorted = lateness.slice(1).sort((a, b) => a - b);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeLessThan(100);
    expect(gate.filter((probe) => probe.at < deadline - 100).every((probe) => probe.status === 200)).toBe(true);
    expect(gate.filter((probe) => probe.at > deadline + 100).every((probe) => probe.status === 503)).toBe(true);

    expect((await ops(web[0].url, 'DELETE', '/maintenance')).status).toBe(200);
    tab.socket.disconnect();
    process.kill(skewed.child.pid!, 'SIGTERM');
    expect(await skewed.exited, skewed.output()).toBe(0);
  });
});
