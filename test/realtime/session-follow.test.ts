import type { RequestHandler } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionMiddleware } from '../../server/http/session-middleware.ts';
import type { SessionStore } from '../../server/sessions/session-store.ts';
import { TEST_SESSION_SECRET } from '../support/app.ts';
import type { Visitor } from '../support/http.ts';
import { collectFlashes, eventually, idOf, keyOf, refused, startRealtimeApp, type RealtimeApp, type TestSocket } from './support.ts';

let t: RealtimeApp;
let bystander: Visitor;
let bystanderTab: TestSocket;

/** POST /test/regenerate: what a login does to the session (a new id, the old one destroyed). */
function regenerateRoute(store: SessionStore): RequestHandler {
  const sessionMiddleware = createSessionMiddleware({ store, secrets: [TEST_SESSION_SECRET], ttlSeconds: 3600, secureCookies: false });
  return (req, res, next) => {
    if (req.method !== 'POST' || req.path !== '/test/regenerate') return next();
    sessionMiddleware(req, res, (error?: unknown) => {
      if (error) return next(error);
      req.session.regenerate((failed) => {
        if (failed) return next(failed);
        req.session.startedAt = Date.now();
        res.json({ regenerated: true });
      });
    });
  };
}

beforeAll(async () => {
  t = await startRealtimeApp({ extend: (deps) => ({ visitorGate: regenerateRoute(deps.store) }) });
  // A session that lives on through every test: its socket must never be touched.
  bystander = await t.newVisitor();
  bystanderTab = await t.connect(bystander);
});
afterAll(async () => {
  // Then every test left the bystander alone.
  expect(bystanderTab.connected).toBe(true);
  const got = collectFlashes(bystanderTab);
  await t.push.flash({ session: keyOf(bystander) }, { key: 'notice', message: 'still here' });
  await eventually(() => expect(got.map((f) => f.message)).toContain('still here'));
  await t?.close();
});

function disconnection(socket: TestSocket): Promise<string> {
  return new Promise((resolve) => socket.once('disconnect', (reason) => resolve(reason)));
}

async function tabsOf(visitor: Visitor): Promise<TestSocket[]> {
  return [await t.connect(visitor), await t.connect(visitor, { transports: ['polling'] })];
}

describe('when a session is destroyed through the store', () => {
  it('then its sockets are disconnected at once, and cannot come back with the old cookie', async () => {
    const visitor = await t.newVisitor();
    const tabs = await tabsOf(visitor);
    const reasons = Promise.all(tabs.map(disconnection));

    await new Promise<void>((resolve, reject) => t.store.destroy(idOf(visitor), (error) => (error ? reject(error) : resolve())));

    expect(await reasons).toEqual(['io server disconnect', 'io server disconnect']);
    tabs[0]!.connect();
    expect((await refused(tabs[0]!)).data?.code).toBe('NO_SESSION');
  });
});

describe('when a session is regenerated', () => {
  it("then the old session's sockets are disconnected, and the new cookie's socket gets the new session's pushes", async () => {
    const visitor = await t.newVisitor();
    const oldKey = keyOf(visitor);
    const tabs = await tabsOf(visitor);
    const reasons = Promise.all(tabs.map(disconnection));

    const response = await visitor.request('/test/regenerate', { method: 'POST' });
    expect(response.status).toBe(200);
    expect(keyOf(visitor)).not.toBe(oldKey);
    expect(await reasons).toEqual(['io server disconnect', 'io server disconnect']);

    const fresh = await t.connect(visitor);
    const got = collectFlashes(fresh);
    expect((await t.push.flash({ session: oldKey }, { key: 'notice', message: 'to the old session' })).sessions).toBe(0);
    await t.push.flash({ session: keyOf(visitor) }, { key: 'notice', message: 'to the new session' });
    await eventually(() => expect(got.map((f) => f.message)).toEqual(['to the new session']));
    fresh.disconnect();
  });
});

describe('when a session is deleted behind the store (ops, cleanup, another process)', () => {
  it('then its sockets are disconnected within seconds', async () => {
    const visitor = await t.newVisitor();
    const tabs = await tabsOf(visitor);
    const reasons = Promise.all(tabs.map(disconnection));

    expect(await t.sessions.destroy(keyOf(visitor))).toBe(true);

    expect(await reasons).toEqual(['io server disconnect', 'io server disconnect']);
    await eventually(async () => expect((await t.presence()).activeSessions).toBe(1));
  });
});

describe('when a session expires', () => {
  it('then its sockets are disconnected within seconds, and a push to everyone does not reach them', async () => {
    const visitor = await t.newVisitor();
    const tabs = await tabsOf(visitor);
    const got = tabs.map(collectFlashes);
    const reasons = Promise.all(tabs.map(disconnection));

    await t.pool.query("UPDATE session SET expire = now() - interval '1 second' WHERE sid = $1", [keyOf(visitor)]);

    expect(await reasons).toEqual(['io server disconnect', 'io server disconnect']);
    const bystanderGot = collectFlashes(bystanderTab);
    await t.push.flash('all', { key: 'notice', message: 'to every live session' });
    await eventually(() => expect(bystanderGot.map((f) => f.message)).toEqual(['to every live session']));
    expect(got).toEqual([[], []]);
  });
});
