import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../realtime/support.ts';
import {
  collectMaintenance,
  recordTransitions,
  startMaintenanceApp,
  startWorkerProcess,
  ticks,
  type MaintenanceApp,
  type WorkerProcess,
} from './support.ts';

/**
 * A worker dies (or stops) in the middle of a countdown. The visitors' ticks come from their
 * web process's view of the stored deadline, not from the worker, so no second is lost or
 * sent twice; the transition at zero is one conditional UPDATE that the web process wins if
 * no worker is there to make it. Maintenance begins once, at the stored deadline.
 */

const LOCK_LIFETIME_MS = 2000;

let t: MaintenanceApp;
let crashing: WorkerProcess | undefined;
let transitions: Awaited<ReturnType<typeof recordTransitions>>;
beforeEach(async () => {
  t = await startMaintenanceApp();
  transitions = await recordTransitions(t.databaseUrl);
});
afterEach(async () => {
  await crashing?.kill();
  crashing = undefined;
  await transitions?.close();
  await t?.close();
});

async function start(seconds: number): Promise<string> {
  const started = await t.ops<{ deadline: string }>('POST', { seconds });
  expect(started.status).toBe(202);
  return started.body.deadline;
}

/** Resolves once the worker process has claimed the countdown's job (it holds the lock). */
async function claimedBy(worker: WorkerProcess): Promise<void> {
  await eventually(async () => {
    const { rows } = await t.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM agenda_jobs
        WHERE name = 'maintenance-countdown' AND locked_at IS NOT NULL AND last_modified_by = $1`,
      [worker.processName],
    );
    expect(Number(rows[0]!.n)).toBe(1);
  });
}

describe('when the worker running a countdown is killed (SIGKILL) and another one starts', () => {
  it('then visitors miss no second and get none twice, and maintenance begins once, at the stored deadline', async () => {
    const visitor = await t.newVisitor();
    const events = collectMaintenance(await t.connect(visitor));
    crashing = await startWorkerProcess(t.databaseUrl, LOCK_LIFETIME_MS);
    const deadline = await start(4);
    await claimedBy(crashing);
    await crashing.kill();
    await t.startWorker({ lockLifetimeMs: LOCK_LIFETIME_MS });

    await eventually(() => expect(events.some((event) => event.state === 'active')).toBe(true));
    expect(ticks(events)).toEqual([4, 3, 2, 1]);
    expect(events.filter((event) => event.state === 'countdown').every((event) => event.deadline === deadline)).toBe(true);
    expect(events.filter((event) => event.state === 'active')).toEqual([expect.objectContaining({ deadline })]);
    expect(events.at(-1)!.receivedAt).toBeGreaterThanOrEqual(Date.parse(deadline));
    // The worker never sent a tick: they are the web process's.
    expect(crashing.emitted).toEqual([]);
    expect(await t.ops('GET')).toMatchObject({ body: { state: 'active', deadline } });
    expect(transitions.states).toEqual(['countdown', 'active']);
  });
});

describe('when the worker running a countdown is killed and no worker is left', () => {
  it('then the web process ticks to the end, switches maintenance on itself at the deadline, once, and clears the flashes', async () => {
    const visitor = await t.newVisitor();
    const events = collectMaintenance(await t.connect(visitor));
    crashing = await startWorkerProcess(t.databaseUrl, LOCK_LIFETIME_MS);
    const deadline = await start(3);
    await claimedBy(crashing);
    await crashing.kill();

    await eventually(() => expect(events.some((event) => event.state === 'active')).toBe(true));
    expect(ticks(events)).toEqual([3, 2, 1]);
    expect(events.filter((event) => event.state === 'active')).toEqual([expect.objectContaining({ deadline })]);
    expect((await visitor.request('/')).status).toBe(503);
    expect(await t.ops('GET')).toMatchObject({ body: { state: 'active', deadline } });
    expect(transitions.states).toEqual(['countdown', 'active']);
    await eventually(async () => {
      const { rows } = await t.pool.query<{ n: string }>(`SELECT count(*) AS n FROM flashes WHERE key = 'maintenance'`);
      expect(Number(rows[0]!.n)).toBe(0);
    });
  });
});

describe('when the worker running a countdown stops in an orderly way', () => {
  it('then its stop does not wait for the deadline, and the next worker carries the countdown on to one end', async () => {
    const visitor = await t.newVisitor();
    const events = collectMaintenance(await t.connect(visitor));
    const stopping = new AbortController();
    const first = await t.startWorker({ stopping: stopping.signal });
    const deadline = await start(4);
    await eventually(() => expect(ticks(events).length).toBeGreaterThanOrEqual(2));

    stopping.abort();
    await first.stop();
    // Handed over, not drained to the end: the countdown is still running.
    expect((await t.ops('GET')).body).toMatchObject({ state: 'countdown', deadline });

    await t.startWorker();
    await eventually(() => expect(events.some((event) => event.state === 'active')).toBe(true));
    expect(ticks(events)).toEqual([4, 3, 2, 1]);
    expect(events.filter((event) => event.state === 'active')).toEqual([expect.objectContaining({ deadline })]);
    expect(transitions.states).toEqual(['countdown', 'active']);
  });
});

describe('when two workers are running as a countdown starts', () => {
  it('then every second is sent once, and maintenance begins once', async () => {
    const visitor = await t.newVisitor();
    const events = collectMaintenance(await t.connect(visitor));
    await t.startWorker();
    await t.startWorker();
    await start(3);
    await eventually(() => expect(events.some((event) => event.state === 'active')).toBe(true));
    expect(ticks(events)).toEqual([3, 2, 1]);
    expect(events.filter((event) => event.state === 'active')).toHaveLength(1);
    expect(transitions.states).toEqual(['countdown', 'active']);
  });
});
