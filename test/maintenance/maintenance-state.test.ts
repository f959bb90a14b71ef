import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../server/db/migrate.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';
import { createMaintenanceView, isDown, type MaintenanceView } from '../../server/maintenance/maintenance-state.ts';
import { createMaintenanceStore } from '../../server/maintenance/maintenance-store.ts';
import { eventually } from '../realtime/support.ts';
import { testLogger } from '../support/app.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

/**
 * The per-process view of the maintenance state: what the visitor gate of every web process
 * answers from. Changes made elsewhere (another process: here, another pool) reach it.
 */

let database: TestDatabase;
let pool: Pool;
/** Another process's connection, making the changes. */
let elsewhere: Pool;
const views: MaintenanceView[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  await migrate({ databaseUrl: database.url, logger: testLogger });
  pool = createPool({ url: database.url, logger: testLogger });
  elsewhere = createPool({ url: database.url, logger: testLogger });
});
afterEach(async () => {
  for (const view of views.splice(0)) await view.close();
});
afterAll(async () => {
  await pool?.end();
  await elsewhere?.end();
  await database?.drop();
});

async function startView(options: { pollIntervalMs: number; reconnectDelayMs?: number }): Promise<MaintenanceView> {
  const view = createMaintenanceView({ pool, logger: testLogger }, options);
  views.push(view);
  await view.start();
  return view;
}

const noop = async () => undefined;
const NO_POLL = { pollIntervalMs: 3_600_000 };

async function resetToIdle(): Promise<void> {
  await createMaintenanceStore(elsewhere).end(noop);
}

describe('when another process changes the state', () => {
  it('then the view hears it by notification, without polling', async () => {
    await resetToIdle();
    const view = await startView(NO_POLL);
    expect(view.current().state).toBe('idle');

    const store = createMaintenanceStore(elsewhere);
    const started = await store.start(60, 'soon', noop);
    expect(started.started).toBe(true);
    await eventually(() => expect(view.current()).toMatchObject({ state: 'countdown', message: 'soon' }));
    expect(view.current().deadline?.getTime()).toBe(started.started ? started.snapshot.deadline!.getTime() : Number.NaN);
    expect(view.isDown()).toBe(false);

    await store.finish(view.current().deadline!, noop);
    await eventually(() => expect(view.current().state).toBe('active'));
    expect(view.isDown()).toBe(true);
    await resetToIdle();
    await eventually(() => expect(view.current().state).toBe('idle'));
  });

  it('then a change that sent no notification still arrives by the poll', async () => {
    await resetToIdle();
    const view = await startView({ pollIntervalMs: 100 });
    await elsewhere.query("UPDATE maintenance SET state = 'active', deadline = now(), version = version + 1");
    await eventually(() => expect(view.current().state).toBe('active'));
    await resetToIdle();
  });
});

describe('when the listening connection is killed', () => {
  it('then the view listens again and hears later changes', async () => {
    await resetToIdle();
    const view = await startView({ ...NO_POLL, reconnectDelayMs: 50 });
    const listeners = async () =>
      (
        await elsewhere.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN maintenance_changed' AND datname = current_database()",
        )
      ).rows;
    const [before] = await listeners();
    expect(before).toBeDefined();
    await elsewhere.query('SELECT pg_terminate_backend($1)', [before!.pid]);
    await eventually(async () => {
      const now = await listeners();
      expect(now).toHaveLength(1);
      expect(now[0]!.pid).not.toBe(before!.pid);
    });

    await createMaintenanceStore(elsewhere).start(60, undefined, noop);
    await eventually(() => expect(view.current().state).toBe('countdown'));
    await resetToIdle();
  });
});

describe('when news arrives out of order', () => {
  it('then the view keeps the newest state', async () => {
    const view = await startView(NO_POLL);
    const version = view.current().version;
    view.apply({ state: 'active', deadline: new Date(), version: version + 2 });
    view.apply({ state: 'countdown', deadline: new Date(Date.now() + 60_000), version: version + 1 });
    expect(view.current()).toMatchObject({ state: 'active', version: version + 2 });
  });
});

describe('when a countdown has passed its deadline but is not yet switched to active', () => {
  it('then visitors already count as shut out, so a tab reloading on `active` never sees the store', () => {
    const now = Date.now();
    expect(isDown({ state: 'countdown', deadline: new Date(now - 1), version: 1 }, now)).toBe(true);
    expect(isDown({ state: 'countdown', deadline: new Date(now), version: 1 }, now)).toBe(true);
    expect(isDown({ state: 'countdown', deadline: new Date(now + 1), version: 1 }, now)).toBe(false);
    expect(isDown({ state: 'active', deadline: new Date(now + 1000), version: 1 }, now)).toBe(true);
    expect(isDown({ state: 'idle', version: 1 }, now)).toBe(false);
  });
});
