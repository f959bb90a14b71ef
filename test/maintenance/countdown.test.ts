import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flash, FlashesResponse } from '../../protocol/events.ts';
import { maintenanceScriptHash } from '../../server/web/unavailable-pages.ts';
import { collectFlashes, eventually, keyOf } from '../realtime/support.ts';
import { collectMaintenance, recordTransitions, startMaintenanceApp, ticks, type MaintenanceApp, type ReceivedEvent } from './support.ts';
import type { Visitor } from '../support/http.ts';

let t: MaintenanceApp;
beforeAll(async () => {
  t = await startMaintenanceApp();
  await t.startWorker();
});
afterAll(() => t?.close());

const maintenanceFlashes = async (): Promise<number> =>
  Number((await t.pool.query<{ n: string }>("SELECT count(*) AS n FROM flashes WHERE key = 'maintenance'")).rows[0]!.n);

async function activeVisitor(): Promise<{ visitor: Visitor; events: ReceivedEvent[]; flashes: Flash[] }> {
  const visitor = await t.newVisitor();
  const socket = await t.connect(visitor);
  const events = collectMaintenance(socket);
  const flashes = collectFlashes(socket);
  await eventually(async () =>
    expect((await t.pool.query('SELECT 1 FROM presence WHERE session_sid = $1', [keyOf(visitor)])).rowCount).toBe(1),
  );
  return { visitor, events, flashes };
}

describe('when ops start a 3-second countdown with active visitors', () => {
  let alice: Awaited<ReturnType<typeof activeVisitor>>;
  let deadline: string;
  let transitions: Awaited<ReturnType<typeof recordTransitions>>;

  beforeAll(async () => {
    transitions = await recordTransitions(t.databaseUrl);
    alice = await activeVisitor();
  });
  afterAll(() => transitions?.close());

  it('then the start answers 202 with the stored deadline, and a second start gets 409', async () => {
    const started = await t.ops<{ state: string; deadline: string; secondsLeft: number }>('POST', { seconds: 3 });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ state: 'countdown', secondsLeft: 3 });
    deadline = started.body.deadline;

    const again = await t.ops<{ error: { code: string } }>('POST', { seconds: 10 });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('CONFLICT');
    expect((await t.ops('GET')).body).toMatchObject({ state: 'countdown', deadline });
  });

  it('then the maintenance flash is written once into the session, with its number computed from the deadline', async () => {
    const { body } = await alice.visitor.json<FlashesResponse>('/api/flashes');
    const flash = body.flashes.find((f) => f.key === 'maintenance');
    expect(flash?.message).toMatch(/^Server shutting down in (1 second|[023] seconds)$/);
    expect(flash?.data).toEqual({ deadline });
    await eventually(() => expect(alice.flashes.filter((f) => f.key === 'maintenance').map((f) => f.id)).toEqual([flash!.id]));
  });

  it('then the visitor gets one tick a second, each one less, down to 1, then maintenance begins at the deadline', async () => {
    await eventually(() => expect(alice.events.some((e) => e.state === 'active')).toBe(true));
    // The first by the start itself, the others by the job on the worker.
    expect(ticks(alice.events)).toEqual([3, 2, 1]);
    for (const tick of alice.events.filter((e) => e.state === 'countdown')) {
      expect(tick.deadline).toBe(deadline);
      // Sent within its second, counted back from the deadline: never early, never a second late.
      expect(tick.secondsLeft).toBe(Math.ceil((Date.parse(deadline) - tick.serverTime) / 1000));
      expect(tick.message).toBe(`Server shutting down in ${tick.secondsLeft} ${tick.secondsLeft === 1 ? 'second' : 'seconds'}`);
    }
    const last = alice.events.at(-1)!;
    expect(last).toMatchObject({ state: 'active', deadline });
    expect(last.serverTime).toBeGreaterThanOrEqual(Date.parse(deadline));
    expect(alice.events.filter((e) => e.state === 'active')).toHaveLength(1);
  });

  it('then the maintenance flashes are cleared everywhere', async () => {
    await eventually(async () => expect(await maintenanceFlashes()).toBe(0));
  });

  it('then visitor pages answer 503 with Retry-After and the maintenance page, allowed by its CSP', async () => {
    for (const path of ['/', '/products/anything', '/cart']) {
      const response = await alice.visitor.request(path);
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('30');
      expect(response.headers.get('content-type')).toMatch(/^text\/html/);
      expect(response.headers.get('content-security-policy')).toContain(`script-src ${maintenanceScriptHash}`);
      expect(await response.text()).toContain('down for maintenance');
    }
    const api = await alice.visitor.request('/api/flashes');
    expect(api.status).toBe(503);
    expect(api.headers.get('retry-after')).toBe('30');
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('MAINTENANCE');
  });

  it('then /healthz, the ops API, the ops console and the built assets keep working', async () => {
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    expect(await t.ops('GET')).toEqual({ status: 200, body: { state: 'active', deadline, startedAt: expect.any(String) } });
    const console = await fetch(`${t.url}/ops`);
    expect(console.status).toBe(200);
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(await console.text())?.[1];
    expect(asset).toBeDefined();
    expect((await fetch(`${t.url}${asset}`)).status).toBe(200);
  });

  it('then a start during maintenance gets 409', async () => {
    expect((await t.ops('POST', { seconds: 5 })).status).toBe(409);
  });

  it('then ending maintenance brings the site back and tells open tabs', async () => {
    const ended = await t.ops('DELETE');
    expect(ended).toEqual({ status: 200, body: { state: 'idle', previous: 'active' } });
    expect((await alice.visitor.request('/')).status).toBe(200);
    await eventually(() => expect(alice.events.at(-1)?.state).toBe('idle'));
    expect(transitions.states).toEqual(['countdown', 'active', 'idle']);
  });
});

describe('when ops cancel a running countdown', () => {
  it('then visitors are told, the flash is gone, the job ends, and maintenance never begins', async () => {
    const transitions = await recordTransitions(t.databaseUrl);
    try {
      const bob = await activeVisitor();
      expect((await t.ops('POST', { seconds: 30, message: 'Back in five minutes' })).status).toBe(202);
      await eventually(() => expect(ticks(bob.events).length).toBeGreaterThanOrEqual(1));
      expect(bob.events[0]!.message).toBe(
        `Server shutting down in ${bob.events[0]!.secondsLeft} ${bob.events[0]!.secondsLeft === 1 ? 'second' : 'seconds'}. Back in five minutes`,
      );
      expect(await maintenanceFlashes()).toBeGreaterThanOrEqual(1);

      const cancelled = await t.ops('DELETE');
      expect(cancelled).toEqual({ status: 200, body: { state: 'idle', previous: 'countdown' } });
      expect(await maintenanceFlashes()).toBe(0);
      await eventually(() => expect(bob.events.at(-1)?.state).toBe('idle'));
      // The job notices on its next second and ends; no run of it stays behind.
      await eventually(async () => {
        const { jobs } = await t.web.agenda.queryJobs({ name: 'maintenance-countdown' });
        expect(jobs.filter((job) => job.state === 'running' || job.state === 'queued')).toEqual([]);
      });
      const after = bob.events.length;
      await new Promise((resolve) => setTimeout(resolve, 1200));
      expect(bob.events.slice(after).filter((e) => e.state !== 'idle')).toEqual([]);
      expect(bob.events.some((e) => e.state === 'active')).toBe(false);
      expect((await bob.visitor.request('/')).status).toBe(200);
      expect(transitions.states).toEqual(['countdown', 'idle']);
    } finally {
      await transitions.close();
    }
  });
});

describe('when ops end maintenance while the site is idle', () => {
  it('then it answers 200, says nothing was running, and changes nothing', async () => {
    const transitions = await recordTransitions(t.databaseUrl);
    try {
      expect(await t.ops('DELETE')).toEqual({ status: 200, body: { state: 'idle', previous: 'idle' } });
      await t.ops('GET');
      expect(transitions.states).toEqual([]);
    } finally {
      await transitions.close();
    }
  });
});

describe('when ops send a bad countdown', () => {
  it.each([
    [{ seconds: 0 }, /seconds: must be at least 1/],
    [{ seconds: 3601 }, /seconds: must be at most 3600/],
    [{ seconds: 2.5 }, /seconds: must be a whole number/],
    [{ seconds: '10' }, /seconds: must be a number/],
    [{ message: '   ' }, /message: must not be empty/],
    [{ message: 'x'.repeat(501) }, /message: must be at most 500/],
    [{ message: 42 }, /message: must be a string/],
  ])('then %j gets 400 naming the field', async (body, message) => {
    const answer = await t.ops<{ error: { code: string; message: string } }>('POST', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('VALIDATION_FAILED');
    expect(answer.body.error.message).toMatch(message);
    expect((await t.ops('GET')).body).toEqual({ state: 'idle' });
  });

  it('then without a token it gets 401', async () => {
    const response = await fetch(`${t.url}/ops/api/maintenance`, { method: 'POST' });
    expect(response.status).toBe(401);
  });
});

describe('when a tab reloads the moment it hears that maintenance began', () => {
  it('then the reload gets the maintenance page, not the store', async () => {
    const carol = await activeVisitor();
    const reloads: number[] = [];
    const socket = await t.connect(carol.visitor);
    socket.on('maintenance', (event) => {
      if (event.state === 'active') void carol.visitor.request('/').then((response) => reloads.push(response.status));
    });
    expect((await t.ops('POST', { seconds: 1 })).status).toBe(202);
    await eventually(() => expect(reloads).toEqual([503]));
    expect((await t.ops('DELETE')).body).toMatchObject({ previous: 'active' });
  });
});
