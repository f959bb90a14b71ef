import express, { type ErrorRequestHandler } from 'express';
import session, { type SessionData } from 'express-session';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../server/db/migrate.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';
import { createSessions, type Sessions } from '../../server/sessions/sessions.ts';
import { REFRESH_FRACTION, SessionGoneError, SessionStore } from '../../server/sessions/session-store.ts';
import { sessionKey } from '../../server/sessions/session-key.ts';
import { testLogger } from '../support/app.ts';
import { createTestDatabase } from '../support/database.ts';
import { idOf, Visitor } from '../support/http.ts';

/**
 * The store's methods one by one, as express-session's README describes a store, against
 * this file's own database: what any app (its own genid, a migration tool, a test calling
 * `store.set`) may rely on, and the guarantees flashcast adds on top.
 */

const TTL_SECONDS = 3600;
let pool: Pool;
let sessions: Sessions;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  const database = await createTestDatabase();
  dropDatabase = database.drop;
  await migrate({ databaseUrl: database.url, logger: testLogger });
  pool = createPool({ url: database.url, logger: testLogger });
  sessions = createSessions({ pool });
});
afterAll(async () => {
  await pool.end();
  await dropDatabase();
});

const newStore = (options: { disableTouch?: boolean } = {}) => new SessionStore({ pool, ttlSeconds: TTL_SECONDS, ...options });

/** The store's callback API as promises (what express-session calls, as it calls it). */
function api(store: SessionStore) {
  return {
    get: (sid: string) =>
      new Promise<SessionData | null | undefined>((resolve, reject) =>
        store.get(sid, (error, value) => (error ? reject(error) : resolve(value))),
      ),
    set: (sid: string, data: SessionData) =>
      new Promise<void>((resolve, reject) => store.set(sid, data, (error) => (error ? reject(error) : resolve()))),
    touch: (sid: string, data: SessionData) =>
      new Promise<void>((resolve, reject) => store.touch(sid, data, (error?: unknown) => (error ? reject(error) : resolve()))),
    destroy: (sid: string) => new Promise<void>((resolve, reject) => store.destroy(sid, (error) => (error ? reject(error) : resolve()))),
    all: promisify(store.all.bind(store)) as () => Promise<SessionData[]>,
    length: promisify(store.length.bind(store)) as () => Promise<number>,
    clear: () => new Promise<void>((resolve, reject) => store.clear((error?: unknown) => (error ? reject(error) : resolve()))),
  };
}

const cookie = (ms = TTL_SECONDS * 1000) => ({
  originalMaxAge: ms,
  expires: new Date(Date.now() + ms).toISOString(),
  httpOnly: true,
  path: '/',
});
const data = (fields: Record<string, unknown>) => ({ cookie: cookie(), ...fields }) as unknown as SessionData;

async function storedExpiry(sid: string): Promise<Date | undefined> {
  const { rows } = await pool.query<{ expire: Date }>('SELECT expire FROM session WHERE sid = $1', [sessionKey(sid)]);
  return rows[0]?.expire;
}

describe('the store, method by method', () => {
  it('when an id the store never generated is set directly, then it is inserted, and get returns it with its flashes', async () => {
    const store = api(newStore());
    const sid = `imported-${randomUUID()}`;
    await store.set(sid, data({ user: 'ada' }));
    const loaded = await store.get(sid);
    expect(loaded).toMatchObject({ user: 'ada', flash: [] });
    // Keys stay hashed at rest.
    expect((await pool.query('SELECT 1 FROM session WHERE sid = $1', [sid])).rowCount).toBe(0);

    await sessions.writeFlash({ session: sessionKey(sid) }, { key: 'notice', message: 'hello' });
    expect((await store.get(sid))?.flash?.map((flash) => flash.message)).toEqual(['hello']);
  });

  it('when a stored session is set again directly, then it is updated (set is an upsert), and its flashes stay', async () => {
    const store = api(newStore());
    const sid = `upsert-${randomUUID()}`;
    await store.set(sid, data({ n: 1 }));
    await sessions.writeFlash({ session: sessionKey(sid) }, { key: 'notice', message: 'kept' });
    await store.set(sid, data({ n: 2, flash: [] }));
    expect(await store.get(sid)).toMatchObject({ n: 2, flash: [{ key: 'notice', message: 'kept' }] });
  });

  it('when get asks for an unknown or expired id, then it answers null without an error', async () => {
    const store = api(newStore());
    expect(await store.get(`unknown-${randomUUID()}`)).toBeNull();
    const sid = `expired-${randomUUID()}`;
    await store.set(sid, data({}));
    await pool.query(`UPDATE session SET expire = now() - interval '1 second' WHERE sid = $1`, [sessionKey(sid)]);
    expect(await store.get(sid)).toBeNull();
  });

  it('when a session is destroyed, then get answers null and its flashes are gone with it', async () => {
    const store = newStore();
    const ended: string[] = [];
    store.onSessionEnded((key) => ended.push(key));
    const sid = `destroyed-${randomUUID()}`;
    await api(store).set(sid, data({}));
    await sessions.writeFlash({ session: sessionKey(sid) }, { key: 'notice', message: 'bye' });
    await api(store).destroy(sid);
    expect(await api(store).get(sid)).toBeNull();
    expect((await pool.query('SELECT 1 FROM flashes WHERE session_sid = $1', [sessionKey(sid)])).rowCount).toBe(0);
    expect(ended).toEqual([sessionKey(sid)]);
  });

  it('when touch is called on its own (no get before it), then a session due for refresh is extended and a fresh one is not written', async () => {
    const store = api(newStore());
    const due = `touch-due-${randomUUID()}`;
    const fresh = `touch-fresh-${randomUUID()}`;
    await store.set(due, data({}));
    await store.set(fresh, data({}));
    // Aged past REFRESH_FRACTION of the TTL: due. The other one was just written: not due.
    const aged = TTL_SECONDS * (1 - REFRESH_FRACTION) - 60;
    await pool.query(`UPDATE session SET expire = now() + make_interval(secs => $2) WHERE sid = $1`, [sessionKey(due), aged]);
    const freshBefore = await storedExpiry(fresh);

    const other = api(newStore()); // another process: it never ran get on either
    await other.touch(due, data({}));
    await other.touch(fresh, data({ cookie: cookie(TTL_SECONDS * 1000 + 60_000) }));

    expect((await storedExpiry(due))!.getTime()).toBeGreaterThan(Date.now() + (TTL_SECONDS - 60) * 1000);
    expect(await storedExpiry(fresh)).toEqual(freshBefore);
  });

  it('when touch is called for a destroyed or expired session, then it does not bring it back', async () => {
    const store = api(newStore());
    const sid = `touch-gone-${randomUUID()}`;
    await store.touch(sid, data({}));
    expect(await storedExpiry(sid)).toBeUndefined();
  });

  it('when the store is built with disableTouch, then touch writes nothing, even for a due session', async () => {
    const store = api(newStore({ disableTouch: true }));
    const sid = `no-touch-${randomUUID()}`;
    await store.set(sid, data({}));
    await pool.query(`UPDATE session SET expire = now() + interval '1 minute' WHERE sid = $1`, [sessionKey(sid)]);
    const before = await storedExpiry(sid);
    await store.touch(sid, data({}));
    expect(await storedExpiry(sid)).toEqual(before);
  });

  it('when all, length and clear are called, then they list, count and delete the live sessions', async () => {
    const store = newStore();
    const ended: string[] = [];
    store.onSessionEnded((key) => ended.push(key));
    const s = api(store);
    await s.clear();
    const marker = randomUUID();
    const ids = [1, 2, 3].map((n) => `all-${n}-${marker}`);
    for (const [n, id] of ids.entries()) await s.set(id, data({ n, marker }));
    await pool.query(`UPDATE session SET expire = now() - interval '1 second' WHERE sid = $1`, [sessionKey(ids[2]!)]);

    expect(await s.length()).toBe(2);
    const all = await s.all();
    expect(all.map((one) => (one as unknown as { n: number }).n).sort()).toEqual([0, 1]);
    expect(all.every((one) => Array.isArray(one.flash))).toBe(true);

    ended.length = 0;
    await s.clear();
    expect(await s.length()).toBe(0);
    expect((await pool.query('SELECT count(*)::int AS n FROM session')).rows[0].n).toBe(0);
    expect(ended.sort()).toEqual(ids.map(sessionKey).sort());
  });

  it('when the database fails, then the error reaches the callback', async () => {
    const broken = createPool({ url: 'postgres://nobody@127.0.0.1:1/none', logger: testLogger });
    const store = api(new SessionStore({ pool: broken, ttlSeconds: TTL_SECONDS }));
    try {
      for (const call of [
        store.get('x'),
        store.set('x', data({})),
        store.destroy('x'),
        store.touch('x', data({})),
        store.length(),
        store.all(),
        store.clear(),
      ]) {
        await expect(call).rejects.toBeTruthy();
      }
    } finally {
      await broken.end();
    }
  });
});

describe('when a callback throws', () => {
  it('then it is an ordinary exception on its own tick, not an unhandled rejection of the store', async () => {
    // Vitest reports any uncaught exception as a failure of the run, so its listeners step aside
    // while this test catches the one it provokes on purpose.
    const saved = { exception: process.listeners('uncaughtException'), rejection: process.listeners('unhandledRejection') };
    process.removeAllListeners('uncaughtException');
    process.removeAllListeners('unhandledRejection');
    const exceptions: unknown[] = [];
    const rejections: unknown[] = [];
    process.on('uncaughtException', (error) => exceptions.push(error));
    process.on('unhandledRejection', (reason) => rejections.push(reason));
    try {
      const store = newStore();
      const sid = `throws-${randomUUID()}`;
      await api(store).set(sid, data({}));
      const boom = new Error('thrown by the app inside its callback');
      store.get(sid, () => {
        throw boom;
      });
      store.length(() => {
        throw boom;
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(exceptions).toEqual([boom, boom]);
      expect(rejections).toEqual([]);
    } finally {
      process.removeAllListeners('uncaughtException');
      process.removeAllListeners('unhandledRejection');
      for (const listener of saved.exception) process.on('uncaughtException', listener as NodeJS.UncaughtExceptionListener);
      for (const listener of saved.rejection) process.on('unhandledRejection', listener as NodeJS.UnhandledRejectionListener);
    }
  });
});

/**
 * express-session with its own options and this store: a `/work` route loads the session and
 * parks until the test releases it; `/logout` destroys it.
 */
async function startApp(store: SessionStore, genid?: (req: express.Request) => string) {
  let release: () => void = () => {};
  let parked: () => void = () => {};
  const isParked = new Promise<void>((resolve) => (parked = resolve));
  const saveErrors: unknown[] = [];
  const app = express();
  app.use(session({ store, secret: 'store-test-secret-0123456789', resave: false, saveUninitialized: false, ...(genid ? { genid } : {}) }));
  app.get('/start', (req, res) => {
    (req.session as unknown as Record<string, unknown>).visits = 0;
    res.json({ id: req.sessionID });
  });
  app.get('/work', async (req, res) => {
    parked();
    await new Promise<void>((resolve) => (release = resolve));
    (req.session as unknown as Record<string, number>).visits! += 1;
    res.json({ ok: true });
  });
  app.get('/save-now', (req, res) => {
    (req.session as unknown as Record<string, number>).visits! += 1;
    req.session.save((error) =>
      res.json({ error: error ? { code: (error as { code?: string }).code, message: (error as Error).message } : null }),
    );
  });
  // express-session hands the end-of-request save's error to next() after the response.
  app.use(((error, _req, _res, next) => {
    saveErrors.push(error);
    next();
  }) satisfies ErrorRequestHandler);
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    isParked,
    release: () => release(),
    saveErrors,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('with express-session and an id generator of the app', () => {
  const customGenid = () => `app-generated-${randomUUID()}`;

  it('when a new session is saved, then it is stored under the hash of the app-generated id and loads on the next request', async () => {
    const app = await startApp(newStore(), customGenid);
    try {
      const visitor = new Visitor(app.url);
      const started = await visitor.json<{ id: string }>('/start');
      expect(started.body.id).toMatch(/^app-generated-/);
      const key = sessionKey(idOf(visitor, 'connect.sid'));
      expect((await pool.query('SELECT sess FROM session WHERE sid = $1', [key])).rows[0]?.sess).toMatchObject({ visits: 0 });
      expect((await visitor.json<{ error: unknown }>('/save-now')).body.error).toBeNull();
      expect((await pool.query('SELECT sess FROM session WHERE sid = $1', [key])).rows[0]?.sess).toMatchObject({ visits: 1 });
    } finally {
      await app.close();
    }
  });

  it('when the session is destroyed while a request holds it, then its save does not re-create it and reports SESSION_GONE', async () => {
    const store = newStore();
    const app = await startApp(store, customGenid);
    try {
      const visitor = new Visitor(app.url);
      await visitor.request('/start');
      const sid = idOf(visitor, 'connect.sid');
      const working = visitor.request('/work');
      await app.isParked;
      await api(newStore()).destroy(sid); // a logout elsewhere, through another process's store
      app.release();
      expect((await working).status).toBe(200);
      await expect.poll(() => app.saveErrors.length).toBe(1);
      expect(app.saveErrors[0]).toBeInstanceOf(SessionGoneError);
      expect((app.saveErrors[0] as SessionGoneError).code).toBe('SESSION_GONE');
      expect(await storedExpiry(sid)).toBeUndefined();
    } finally {
      await app.close();
    }
  });

  it('when the session is destroyed before an explicit save, then save calls back with SESSION_GONE and a clear message', async () => {
    const app = await startApp(newStore(), customGenid);
    try {
      const visitor = new Visitor(app.url);
      await visitor.request('/start');
      // Loaded by this request's get, destroyed between its get and its save: cleanup deleting it.
      const sid = idOf(visitor, 'connect.sid');
      const store = newStore();
      const loaded = await api(store).get(sid);
      const req = { sessionID: sid };
      const held = store.createSession(req as never, loaded!);
      await sessions.destroy(sessionKey(sid));
      const error = await new Promise<unknown>((resolve) => store.set(sid, held, resolve));
      expect(error).toBeInstanceOf(SessionGoneError);
      expect((error as Error).message).toMatch(/destroyed.*regenerate\(\)/);
      expect(await storedExpiry(sid)).toBeUndefined();
    } finally {
      await app.close();
    }
  });
});
