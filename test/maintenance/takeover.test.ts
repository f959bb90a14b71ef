import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MaintenanceEvent } from '../../protocol/events.ts';
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
 * A worker stops in the middle of a countdown; another worker on the same database (its own
 * Agenda, its own process name) carries it on. Whatever happens, maintenance begins once, at
 * the deadline stored when ops started the countdown.
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

/** Every second sent, by whichever process, in the order sent: each one less than the one before. */
function strictlyCountingDown(events: readonly MaintenanceEvent[]): void {
  const seconds = ticks([...events].sort((a, b) => a.serverTime - b.serverTime));
  for (let i = 1; i < seconds.length; i += 1) expect(seconds[i]).toBeLessThan(seconds[i - 1]!);
}

describe('when the worker running a countdown is killed', () => {
  it('then another worker takes it over within seconds and ends it once, at the stored deadline', async () => {
    const visitor = await t.newVisitor();
    const events = collectMaintenance(await t.connect(visitor));
    crashing = await startWorkerProcess(t.databaseUrl, LOCK_LIFETIME_MS);
    const deadline = await start(4);

    await crashing.waitFor((event) => event.state === 'countdown');
    await crashing.kill();
    const before = crashing.emitted.map((entry) => entry.payload);
    expect(before.every((event) => event.state === 'countdown')).toBe(true);

    await t.startWorker({ lockLifetimeMs: LOCK_LIFETIME_MS });
    await eventually(() => expect(events.some((event) => event.state === 'active')).toBe(true));

    const heard = [...before, ...events];
    strictlyCountingDown(heard);
    expect(heard.filter((event) => event.state === 'countdown').every((event) => event.deadline === deadline)).toBe(true);
    expect(heard.filter((event) => event.state === 'active')).toEqual([expect.objectContaining({ deadline })]);
    // The survivor picked up from the stored deadline: it went on counting, from where the
    // clock stood when it took over, to the last second.
    expect(ticks(events).at(-1)).toBe(1);
    expect(await t.ops('GET')).toMatchObject({ body: { state: 'active', deadline } });
    expect(transitions.states).toEqual(['countdown', 'active']);
  });
});

describe('when the worker running a countdown is killed and the deadline passes before another starts', () => {
  it('then the maintenance page is already up at the deadline, and the next worker ends the countdown at once, once', async () => {
    const visitor = await t.newVisitor();
    const events = collectMaintenance(await t.connect(visitor));
    crashing = await startWorkerProcess(t.databaseUrl, LOCK_LIFETIME_MS);
    const deadline = await start(2);
    await crashing.waitFor((event) => event.state === 'countdown');
    await crashing.kill();

    // Nobody drives the countdown now; the site still closes at its deadline.
    await eventually(async () => expect((await visitor.request('/')).status).toBe(503));
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(deadline));
    expect((await t.ops('GET')).body).toMatchObject({ state: 'countdown', deadline, secondsLeft: 0 });

    await t.startWorker({ lockLifetimeMs: LOCK_LIFETIME_MS });
    await eventually(() => expect(events.some((event) => event.state === 'active')).toBe(true));
    // Only the start's own tick: the survivor came after the deadline, and ended it at once.
    expect(ticks(events)).toEqual([2]);
    expect(events.filter((event) => event.state === 'active')).toEqual([expect.objectContaining({ deadline })]);
    expect(await t.ops('GET')).toMatchObject({ body: { state: 'active', deadline } });
    expect(transitions.states).toEqual(['countdown', 'active']);
  });
});

describe('when the worker running a countdown stops in an orderly way', () => {
  it('then its stop does not wait for the deadline, and the next worker carries the countdown on to one end', async () => {
    const visitor = await t.newVisitor();
    const events = collectMaintenance(await t.connect(visitor));
    const stopping = new AbortController();
    const first = await t.startWorker({ stopping: stopping.signal });
    const deadline = await start(4);
    // The start's own tick, then one of the first worker's.
    await eventually(() => expect(ticks(events).length).toBeGreaterThanOrEqual(2));

    stopping.abort();
    await first.stop();
    // Handed over, not drained to the end: the countdown is still running.
    expect((await t.ops('GET')).body).toMatchObject({ state: 'countdown', deadline });
    const handedOverAt = events.length;

    await t.startWorker();
    await eventually(() => expect(events.some((event) => event.state === 'active')).toBe(true));
    strictlyCountingDown(events);
    expect(ticks(events.slice(handedOverAt)).length).toBeGreaterThanOrEqual(1);
    expect(events.filter((event) => event.state === 'active')).toEqual([expect.objectContaining({ deadline })]);
    expect(transitions.states).toEqual(['countdown', 'active']);
  });
});

describe('when two workers are running as a countdown starts', () => {
  it('then one of them drives it: every second is sent once, and maintenance begins once', async () => {
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
