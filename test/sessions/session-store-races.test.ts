import express from 'express';
import session, { type Store } from 'express-session';
import connectPgSimple from 'connect-pg-simple';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../server/db/migrate.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';
import { createSessions, type Sessions } from '../../server/sessions/sessions.ts';
import { SessionStore } from '../../server/sessions/session-store.ts';
import { sessionKey } from '../../server/sessions/session-key.ts';
import { createTestDatabase } from '../support/database.ts';
import { testLogger } from '../support/app.ts';
import { idOf, Visitor } from '../support/http.ts';

/**
 * The races the store exists to win. Each request route parks after loading its session until
 * the test releases it, so "a flash written while the request was running" is a fact of the
 * test, not a matter of timing. The same scenario runs against the stock connect-pg-simple
 * store, which must lose: that is the proof these tests can fail.
 */

interface Variant {
  name: string;
  store: Store;
  /** The row key of a cookie session id. */
  keyOf(id: string): string;
  writeFlash(key: string, flashKey: string, message: string): Promise<void>;
  flashKeys(key: string): Promise<string[]>;
  destroy(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  genid?: (req: object) => string;
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A tiny app whose /work route loads the session, parks, then changes and saves it. */
async function startRaceApp(variant: Variant) {
  const parked: Array<() => void> = [];
  let loadedCount = 0;
  let onLoaded = deferred();
  let expectedLoads = 0;
  let release = deferred();
  const app = express();
  app.use(
    session({
      store: variant.store,
      secret: 'race-test-secret-0123456789',
      resave: false,
      saveUninitialized: false,
      ...(variant.genid ? { genid: variant.genid } : {}),
    }),
  );
  app.get('/start', (req, res) => {
    (req.session as unknown as Record<string, unknown>).visits = 0;
    res.json({ ok: true });
  });
  app.get('/work', async (req, res) => {
    loadedCount += 1;
    if (loadedCount === expectedLoads) onLoaded.resolve();
    await release.promise;
    const data = req.session as unknown as Record<string, number>;
    data.visits = (data.visits ?? 0) + 1;
    res.json({ ok: true });
  });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** Starts n requests and resolves once all have loaded the session and parked. */
    async park(visitor: Visitor, n: number) {
      loadedCount = 0;
      expectedLoads = n;
      onLoaded = deferred();
      release = deferred();
      const responses = Array.from({ length: n }, () => visitor.request('/work'));
      await onLoaded.promise;
      return async () => {
        release.resolve();
        for (const response of await Promise.all(responses)) expect(response.status).toBe(200);
      };
    },
    parked,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Both variants keep express-session's default cookie name. */
const sessionIdOf = (visitor: Visitor): string => idOf(visitor, 'connect.sid');

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

function ourStore(): Variant {
  const store = new SessionStore({ pool, ttlSeconds: 3600 });
  return {
    name: 'flashcast store',
    store,
    genid: store.generateId,
    keyOf: sessionKey,
    async writeFlash(key, flashKey, message) {
      await sessions.writeFlash({ session: key }, { key: flashKey, message });
    },
    async flashKeys(key) {
      return ((await sessions.find(key))?.flashes ?? []).map((flash) => flash.key).sort();
    },
    async destroy(key) {
      await sessions.destroy(key);
    },
    async exists(key) {
      return (await pool.query('SELECT 1 FROM session WHERE sid = $1', [key])).rowCount === 1;
    },
  };
}

async function stockStore(): Promise<Variant> {
  const PGStore = connectPgSimple(session);
  await pool.query(`CREATE TABLE IF NOT EXISTS stock_session (sid varchar PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL)`);
  return {
    name: 'stock connect-pg-simple store',
    store: new PGStore({ pool, tableName: 'stock_session', pruneSessionInterval: false }),
    keyOf: (id) => id,
    // The stock store keeps flashes inside sess; an outside writer merges into the stored row.
    async writeFlash(key, flashKey, message) {
      await pool.query(
        `UPDATE stock_session
            SET sess = (sess::jsonb || jsonb_build_object('flash',
                        COALESCE(sess::jsonb -> 'flash', '{}'::jsonb) || jsonb_build_object($2::text, $3::text)))::json
          WHERE sid = $1`,
        [key, flashKey, message],
      );
    },
    async flashKeys(key) {
      const { rows } = await pool.query<{ keys: string[] | null }>(
        `SELECT ARRAY(SELECT jsonb_object_keys(COALESCE(sess::jsonb -> 'flash', '{}'::jsonb))) AS keys FROM stock_session WHERE sid = $1`,
        [key],
      );
      return (rows[0]?.keys ?? []).sort();
    },
    async destroy(key) {
      await pool.query('DELETE FROM stock_session WHERE sid = $1', [key]);
    },
    async exists(key) {
      return (await pool.query('SELECT 1 FROM stock_session WHERE sid = $1', [key])).rowCount === 1;
    },
  };
}

async function scenario(variant: Variant) {
  const app = await startRaceApp(variant);
  const visitor = new Visitor(app.url);
  expect((await visitor.request('/start')).status).toBe(200);
  const key = variant.keyOf(sessionIdOf(visitor));
  expect(await variant.exists(key)).toBe(true);
  return { app, visitor, key };
}

const REQUESTS = 25;
const FLASHES = 20;

describe('when requests save a session while another connection writes flashes into it', () => {
  it('then the flashcast store keeps every flash', async () => {
    const variant = ourStore();
    const { app, visitor, key } = await scenario(variant);
    const finish = await app.park(visitor, REQUESTS);
    const written = Array.from({ length: FLASHES }, (_, i) => `k${i}`);
    await Promise.all(written.map((flashKey) => variant.writeFlash(key, flashKey, `message ${flashKey}`)));
    await finish();
    expect(await variant.flashKeys(key)).toEqual([...written].sort());
    await app.close();
  });

  it('then the stock connect-pg-simple store loses them (the test can fail)', async () => {
    const variant = await stockStore();
    const { app, visitor, key } = await scenario(variant);
    const finish = await app.park(visitor, REQUESTS);
    const written = Array.from({ length: FLASHES }, (_, i) => `k${i}`);
    for (const flashKey of written) await variant.writeFlash(key, flashKey, `message ${flashKey}`);
    expect(await variant.flashKeys(key)).toEqual([...written].sort()); // written, before the saves
    await finish();
    expect((await variant.flashKeys(key)).length).toBeLessThan(FLASHES);
    await app.close();
  });
});

describe('when a session is destroyed while a request on it is in flight', () => {
  it('then the flashcast store leaves it destroyed after the request saves', async () => {
    const variant = ourStore();
    const { app, visitor, key } = await scenario(variant);
    const finish = await app.park(visitor, 1);
    await variant.destroy(key);
    await finish();
    expect(await variant.exists(key)).toBe(false);
    await app.close();
  });

  it('then the stock store brings it back (the test can fail)', async () => {
    const variant = await stockStore();
    const { app, visitor, key } = await scenario(variant);
    const finish = await app.park(visitor, 1);
    await variant.destroy(key);
    await finish();
    expect(await variant.exists(key)).toBe(true);
    await app.close();
  });
});

describe('when a session is stored', () => {
  it('then the table holds a hash of the session id, never the id', async () => {
    const variant = ourStore();
    const { app, visitor, key } = await scenario(variant);
    const id = sessionIdOf(visitor);
    expect(key).not.toBe(id);
    expect((await pool.query('SELECT 1 FROM session WHERE sid = $1', [id])).rowCount).toBe(0);
    expect((await pool.query(`SELECT 1 FROM session WHERE sess::text LIKE '%' || $1 || '%'`, [id])).rowCount).toBe(0);
    await app.close();
  });
});
