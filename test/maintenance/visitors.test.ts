import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flash } from '../../protocol/events.ts';
import { AppError } from '../../server/errors.ts';
import { createMaintenance } from '../../server/maintenance/maintenance.ts';
import { testLogger } from '../support/app.ts';
import type { Visitor } from '../support/http.ts';
import { eventually, keyOf } from '../realtime/support.ts';
import { startMaintenanceApp, type MaintenanceApp } from './support.ts';

/**
 * What visitors see of a countdown besides the ticks, with no worker running (so nothing
 * ticks and nothing ends by itself): the state when they connect, the flash's number on a
 * page loaded mid-countdown.
 */

let t: MaintenanceApp;
beforeAll(async () => {
  t = await startMaintenanceApp();
});
afterAll(() => t?.close());

async function activeVisitor(): Promise<Visitor> {
  const visitor = await t.newVisitor();
  await t.connect(visitor);
  await eventually(async () =>
    expect((await t.pool.query('SELECT 1 FROM presence WHERE session_sid = $1', [keyOf(visitor)])).rowCount).toBe(1),
  );
  return visitor;
}

const countdownNumber = (html: string): number | undefined => {
  const match = /data-maintenance-countdown role="timer">(\d+)</.exec(html);
  return match ? Number(match[1]) : undefined;
};

describe('when a visitor connects during a countdown', () => {
  it('then the state reaches its tab at once, and a page it loads shows the seconds left then', async () => {
    const present = await activeVisitor();
    const started = await t.ops<{ deadline: string }>('POST', { seconds: 30 });
    expect(started.status).toBe(202);
    const deadline = Date.parse(started.body.deadline);

    const late = await t.newVisitor();
    const { events } = await t.listen(late);
    await eventually(() => expect(events).toHaveLength(1));
    expect(events[0]).toMatchObject({
      state: 'countdown',
      deadline: started.body.deadline,
      message: `Server shutting down in ${events[0]!.secondsLeft} ${events[0]!.secondsLeft === 1 ? 'second' : 'seconds'}`,
    });
    expect(events[0]!.secondsLeft).toBe(Math.ceil((deadline - events[0]!.serverTime) / 1000));

    // The flash of a visitor who was there at the start, shown on a page loaded a second or
    // more later: its number is computed at that load, from the deadline.
    await eventually(() => expect(Date.now()).toBeGreaterThan(deadline - 29_000));
    const before = Math.ceil((deadline - Date.now()) / 1000);
    const page = await (await present.request('/')).text();
    const after = Math.ceil((deadline - Date.now()) / 1000);
    const shown = countdownNumber(page);
    expect(shown).toBeLessThan(30);
    expect(shown).toBeGreaterThanOrEqual(after);
    expect(shown).toBeLessThanOrEqual(before);

    expect((await t.ops('DELETE')).body).toMatchObject({ previous: 'countdown' });
  });
});

describe('when a tab reconnects after maintenance began', () => {
  it('then it is told at once, so it reloads into the maintenance page', async () => {
    const visitor = await t.newVisitor();
    await t.pool.query("UPDATE maintenance SET state = 'active', deadline = now(), version = version + 1");
    await t.view.refresh();
    const { events } = await t.listen(visitor);
    await eventually(() => expect(events.map((e) => e.state)).toEqual(['active']));
    expect((await t.ops('DELETE')).body).toMatchObject({ previous: 'active' });
    expect((await visitor.request('/')).status).toBe(200);
  });
});

describe('when the site is idle', () => {
  it('then a connecting tab is told nothing (a maintenance flash ops pushed by hand stays on screen)', async () => {
    const visitor = await t.newVisitor();
    const { socket, events } = await t.listen(visitor);
    // A round trip on the same socket: had the server sent anything on connect, it came first.
    const flashes: Flash[] = [];
    socket.on('flash', (flash) => flashes.push(flash));
    await t.push.flash({ session: keyOf(visitor) }, { key: 'maintenance', message: 'Maintenance tonight at 22:00' });
    await eventually(() => expect(flashes).toHaveLength(1));
    expect(events).toEqual([]);
  });
});

describe('when the countdown job cannot be queued', () => {
  it('then the start fails with 503, and the countdown is taken back: idle, no flash, tabs told', async () => {
    const visitor = await activeVisitor();
    const { events } = await t.listen(visitor);
    const broken = createMaintenance({
      pool: t.pool,
      logger: testLogger,
      sessions: t.sessions,
      emitter: t.realtime.io,
      queueCountdown: () => Promise.reject(new Error('queue down')),
      view: t.view,
    });
    const failure = await broken.start({ seconds: 30 }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect(failure).toMatchObject({ code: 'UNAVAILABLE', status: 503 });
    expect(await broken.status()).toEqual({ state: 'idle' });
    expect(t.view.current().state).toBe('idle');
    expect((await t.pool.query("SELECT 1 FROM flashes WHERE key = 'maintenance'")).rowCount).toBe(0);
    await eventually(() => expect(events.at(-1)?.state).toBe('idle'));
  });
});
