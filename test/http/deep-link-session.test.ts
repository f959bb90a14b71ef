import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectFlashes, eventually, keyOf, startRealtimeApp, type RealtimeApp } from '../realtime/support.ts';
import { Visitor } from '../support/http.ts';

/** SESSION_RATE_LIMIT of this app: the two deep links below take both tokens. */
const LIMIT = 2;

let t: RealtimeApp;

beforeAll(async () => {
  t = await startRealtimeApp({ config: { sessionRateLimit: LIMIT } });
});
afterAll(() => t?.close());

describe('when a new visitor arrives on a store page other than the home page', () => {
  it('then it gets a session and its cookie, its socket connects and receives a pushed flash, within SESSION_RATE_LIMIT', async () => {
    const visitors: Visitor[] = [];
    for (const deepLink of ['/cart', '/products/widget-pro']) {
      const visitor = new Visitor(t.url);
      visitors.push(visitor);
      const first = await visitor.request(deepLink);
      expect(first.status, deepLink).toBe(200);
      expect(first.headers.getSetCookie().join(), deepLink).toMatch(/flashcast\.sid=.*HttpOnly/i);
      await first.arrayBuffer();
      expect(await t.sessions.find(keyOf(visitor)), deepLink).toBeDefined();

      const socket = await t.connect(visitor);
      const received = collectFlashes(socket);
      await t.push.flash({ session: keyOf(visitor) }, { key: 'notice', message: `hello from ${deepLink}` });
      await eventually(() => expect(received.map((flash) => flash.message)).toEqual([`hello from ${deepLink}`]));
    }

    // The deep links took this address's tokens: one more cookieless /cart is refused, and stores nothing.
    const before = (await t.pool.query('SELECT count(*)::int AS n FROM session')).rows[0].n;
    const refused = await fetch(`${t.url}/cart`, { headers: { accept: 'text/html' } });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('set-cookie')).toBeNull();
    await refused.arrayBuffer();
    expect((await t.pool.query('SELECT count(*)::int AS n FROM session')).rows[0].n).toBe(before);

    // A visitor who sends its cookie back never meets the limit, and keeps its session.
    const [returning] = visitors;
    const key = keyOf(returning!);
    expect((await returning!.request('/cart')).status).toBe(200);
    expect(keyOf(returning!)).toBe(key);
  });
});
