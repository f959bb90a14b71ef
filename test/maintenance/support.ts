import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createAgenda, type AgendaHandle } from '../../jobs/agenda.ts';
import { countdownQueue, createMaintenanceCountdownJob } from '../../jobs/maintenance-countdown.ts';
import type { MaintenanceEvent, MaintenanceState } from '../../protocol/events.ts';
import { createMaintenanceGate } from '../../server/maintenance/maintenance-gate.ts';
import { createMaintenanceRoutes } from '../../server/maintenance/maintenance-routes.ts';
import { createMaintenanceView, type MaintenanceView, type MaintenanceViewOptions } from '../../server/maintenance/maintenance-state.ts';
import { MAINTENANCE_CHANNEL, createMaintenanceStore, parseSnapshotPayload } from '../../server/maintenance/maintenance-store.ts';
import { createCountdownTicker, type CountdownTicker } from '../../server/maintenance/countdown-ticker.ts';
import { systemClock } from '../../server/db/database-clock.ts';
import { VISITORS_ROOM } from '../../server/realtime/rooms.ts';
import { createMaintenance, type Maintenance } from '../../server/maintenance/maintenance.ts';
import { sendStateOnConnect } from '../../server/maintenance/maintenance-events.ts';
import { createPresenceRoutes } from '../../server/realtime/presence-routes.ts';
import type { RoomEmitter } from '../../server/realtime/push.ts';
import { TEST_OPS_TOKEN, testLogger } from '../support/app.ts';
import { opsHeaders } from '../support/http.ts';
import { connected, openSocket, startRealtimeApp, type RealtimeApp, type TestSocket } from '../realtime/support.ts';
import type { Visitor } from '../support/http.ts';

const rootDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface WorkerOptions {
  /** Emits go here; default: the app's Socket.IO server (what ROLE=all does). */
  emitter?: RoomEmitter;
  /** Aborted: the worker is stopping, and a running countdown hands itself over. */
  stopping?: AbortSignal;
  lockLifetimeMs?: number;
}

export interface MaintenanceApp extends RealtimeApp {
  view: MaintenanceView;
  maintenance: Maintenance;
  /** The web process's Agenda: started without definitions, so it only queues (and notifies). */
  web: AgendaHandle;
  /** A worker Agenda on the same database, with the countdown job, named uniquely; stopped by close(). */
  startWorker(options?: WorkerOptions): Promise<AgendaHandle>;
  ops<T = Record<string, unknown>>(method: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Connects a tab that records its `maintenance` events from the first one (sent on connect). */
  listen(visitor: Visitor): Promise<{ socket: TestSocket; events: ReceivedEvent[] }>;
}

/**
 * The realtime test app wired as server/system.ts wires maintenance: the gate before the
 * visitor routes, the ops routes under /ops/api, the state sent on connect, a web Agenda
 * that queues the countdown. Workers are started by the test, so it decides when one runs.
 */
export async function startMaintenanceApp(options: { view?: MaintenanceViewOptions } = {}): Promise<MaintenanceApp> {
  let view: MaintenanceView | undefined;
  let maintenance: Maintenance | undefined;
  const ready = () => {
    if (!maintenance) throw new Error('maintenance is not wired yet');
    return maintenance;
  };
  const t = await startRealtimeApp({
    presence: { flushDelayMs: 20 },
    hooks: { onConnect: (socket) => sendStateOnConnect(view!)(socket) },
    extend: (deps) => {
      view = createMaintenanceView({ pool: deps.pool, logger: testLogger }, { pollIntervalMs: 200, ...options.view });
      return {
        opsApi: [
          createPresenceRoutes({ pool: deps.pool }),
          createMaintenanceRoutes({
            status: () => ready().status(),
            start: (input) => ready().start(input),
            cancel: () => ready().cancel(),
          }),
        ],
        visitorGate: createMaintenanceGate(view),
      };
    },
  });
  const workers: Array<{ handle: AgendaHandle; stopping: AbortController }> = [];
  const listening: TestSocket[] = [];
  let web: AgendaHandle | undefined;
  let ticker: CountdownTicker | undefined;
  try {
    await view!.start();
    web = await createAgenda({ pool: t.pool, logger: testLogger, processName: `web-${randomUUID()}`, processEvery: 200 });
    await web.agenda.start();
    maintenance = createMaintenance({
      pool: t.pool,
      logger: testLogger,
      sessions: t.sessions,
      emitter: t.realtime.io,
      queueCountdown: countdownQueue(web.agenda),
      view: view!,
    });
    // As server/system.ts wires a web process: its tabs hear the state and the ticks from it.
    ticker = createCountdownTicker({
      view: view!,
      clock: systemClock,
      store: createMaintenanceStore(t.pool),
      sessions: t.sessions,
      logger: testLogger,
      emitLocal: (event) => t.realtime.io.local.to(VISITORS_ROOM).emit('maintenance', event),
    });
  } catch (error) {
    await web?.stop();
    await view?.close();
    await t.close();
    throw error;
  }

  return {
    ...t,
    view: view!,
    maintenance,
    web,
    async startWorker(workerOptions = {}) {
      const handle = await createAgenda({ pool: t.pool, logger: testLogger, processName: `worker-${randomUUID()}`, processEvery: 200 });
      const stopping = new AbortController();
      workerOptions.stopping?.addEventListener('abort', () => stopping.abort(), { once: true });
      createMaintenanceCountdownJob({ ...(workerOptions.lockLifetimeMs ? { lockLifetimeMs: workerOptions.lockLifetimeMs } : {}) }).define(
        handle.agenda,
        {
          pool: t.pool,
          logger: testLogger,
          sessions: t.sessions,
          push: t.push,
          emitter: workerOptions.emitter ?? t.realtime.io,
          stopping: stopping.signal,
        },
      );
      await handle.agenda.start();
      workers.push({ handle, stopping });
      return handle;
    },
    async ops(method, body) {
      const response = await fetch(`${t.url}/ops/api/maintenance`, {
        method,
        headers: { ...opsHeaders(TEST_OPS_TOKEN), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: response.status, body: await response.json() };
    },
    async listen(visitor) {
      const socket = openSocket(t.url, visitor);
      listening.push(socket);
      const events = collectMaintenance(socket);
      await connected(socket);
      return { socket, events };
    },
    async close() {
      for (const socket of listening) socket.disconnect();
      // Stopping workers hand a running countdown over rather than wait for it in drain().
      for (const worker of workers) worker.stopping.abort();
      for (const worker of workers) await worker.handle.stop();
      ticker?.close();
      await web!.stop();
      await view!.close();
      await t.close();
    },
  };
}

export interface ReceivedEvent extends MaintenanceEvent {
  receivedAt: number;
}

/** Every `maintenance` event a socket receives, in order. */
export function collectMaintenance(socket: TestSocket): ReceivedEvent[] {
  const received: ReceivedEvent[] = [];
  socket.on('maintenance', (event) => received.push({ ...event, receivedAt: Date.now() }));
  return received;
}

/** The states of every committed transition, as NOTIFY maintenance_changed announces them. */
export async function recordTransitions(databaseUrl: string): Promise<{ states: MaintenanceState[]; close(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const states: MaintenanceState[] = [];
  client.on('notification', (message) => {
    const snapshot = message.payload ? parseSnapshotPayload(message.payload) : undefined;
    if (message.channel === MAINTENANCE_CHANNEL && snapshot) states.push(snapshot.state);
  });
  await client.query(`LISTEN ${MAINTENANCE_CHANNEL}`);
  return { states, close: () => client.end() };
}

/** The ticks' secondsLeft, in order. */
export const ticks = (events: readonly MaintenanceEvent[]): number[] =>
  events.filter((event) => event.state === 'countdown').map((event) => event.secondsLeft!);

export interface WorkerProcess {
  child: ChildProcess;
  /** Its Agenda's process name, as agenda_jobs.last_modified_by records who claimed a job. */
  processName: string;
  /** What the worker emitted, in order, as `{room, event, payload}`. */
  emitted: Array<{ room: string | string[]; event: string; payload: MaintenanceEvent }>;
  /** Resolves once the worker emitted something that matches. */
  waitFor(match: (payload: MaintenanceEvent) => boolean): Promise<void>;
  kill(): Promise<void>;
}

/**
 * A countdown worker in a process of its own (test/maintenance/countdown-worker.ts), so a
 * test can kill it with SIGKILL as a crash would: no drain, no lock released, no goodbye.
 * Its emits are written to stdout and collected here.
 */
export async function startWorkerProcess(databaseUrl: string, lockLifetimeMs: number): Promise<WorkerProcess> {
  const processName = `crashing-worker-${randomUUID()}`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/maintenance/countdown-worker.ts'], {
    cwd: rootDir,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      DATABASE_URL: databaseUrl,
      LOCK_LIFETIME_MS: String(lockLifetimeMs),
      PROCESS_NAME: processName,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const emitted: WorkerProcess['emitted'] = [];
  const waiters = new Set<() => void>();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: true; emit?: WorkerProcess['emitted'][number] };
      if (message.ready) resolve();
      if (message.emit) {
        emitted.push(message.emit);
        for (const waiter of waiters) waiter();
      }
    });
    void exited.then(() => reject(new Error('the worker process exited before it was ready')));
  });
  await started;
  return {
    child,
    processName,
    emitted,
    waitFor(match) {
      return new Promise((resolve) => {
        const check = () => {
          if (emitted.some((entry) => entry.event === 'maintenance' && match(entry.payload))) {
            waiters.delete(check);
            resolve();
          }
        };
        waiters.add(check);
        check();
      });
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
