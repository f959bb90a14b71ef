import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlashesResponse } from '../../protocol/events.ts';
import { startTestApp, TEST_OPS_TOKEN, type TestApp } from '../support/app.ts';
import { keyOf, opsHeaders, Visitor } from '../support/http.ts';

let t: TestApp;
/** Every SQL statement the app sends, to check what a request writes. */
const statements: string[] = [];

beforeAll(async () => {
  t = await startTestApp();
  const query = t.pool.query.bind(t.pool) as (...args: unknown[]) => unknown;
  (t.pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
    const first = args[0] as string | { text: string };
    statements.push(typeof first === 'string' ? first : first.text);
    return query(...args);
  };
});
afterAll(() => t.close());

const writes = () => statements.filter((sql) => /\b(INSERT|UPDATE|DELETE)\b/i.test(sql));

async function newVisitor(): Promise<Visitor> {
  const visitor = new Visitor(t.url);
  const response = await visitor.request('/');
  expect(response.status).toBe(200);
  return visitor;
}

describe('when a new visitor views the home page', () => {
  it('then it gets a session and its cookie, its return extends the trial lifetime once, and later views write nothing', async () => {
    const visitor = new Visitor(t.url);
    const first = await visitor.request('/');
    expect(first.status).toBe(200);
    expect(first.headers.getSetCookie().join()).toMatch(/flashcast\.sid=.*HttpOnly.*SameSite=Lax/i);
    expect(await t.sessions.find(keyOf(visitor))).toBeDefined();

    // The first return turns the trial lifetime into the full one: one UPDATE of the expiry.
    statements.length = 0;
    expect((await visitor.request('/')).status).toBe(200);
    expect(writes()).toHaveLength(1);

    statements.length = 0;
    for (let i = 0; i < 5; i += 1) expect((await visitor.request('/')).status).toBe(200);
    expect(writes()).toEqual([]);
  });
});

describe('when a visitor views a product', () => {
  it('then the sku is kept in its recently viewed list', async () => {
    const visitor = await newVisitor();
    await visitor.request('/products/widget-pro');
    await visitor.request('/products/doohickey');
    const stored = await t.sessions.find(keyOf(visitor));
    expect(stored?.data.recentlyViewed).toEqual(['doohickey', 'widget-pro']);
    expect((await visitor.request('/products/no-such-thing')).status).toBe(404);
  });
});

describe('when a visitor adds to its cart', () => {
  it('then good input is added and bad input gets a 400 with a code, losing nothing', async () => {
    const visitor = new Visitor(t.url);
    const added = await visitor.json('/api/cart/items', { method: 'POST', json: { sku: 'widget-pro', qty: 2 } });
    expect(added).toEqual({ status: 201, body: { items: [{ sku: 'widget-pro', qty: 2 }], count: 2 } });

    const bad: Array<[unknown, string]> = [
      [{ sku: 'nope', qty: 1 }, 'UNKNOWN_SKU'],
      [{ sku: 'widget-pro', qty: 0 }, 'VALIDATION_FAILED'],
      [{ sku: 'widget-pro', qty: 1.5 }, 'VALIDATION_FAILED'],
      [{ sku: 'widget-pro', qty: '3' }, 'VALIDATION_FAILED'],
      [{ qty: 1 }, 'VALIDATION_FAILED'],
      [[1, 2], 'VALIDATION_FAILED'],
    ];
    for (const [json, code] of bad) {
      const response = await visitor.json<{ error: { code: string; message: string } }>('/api/cart/items', { method: 'POST', json });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe(code);
      expect(response.body.error.message.length).toBeGreaterThan(5);
    }
    const malformed = await visitor.json<{ error: { code: string } }>('/api/cart/items', {
      method: 'POST',
      body: '{"sku": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
    expect((await visitor.json('/api/cart')).body).toEqual({ items: [{ sku: 'widget-pro', qty: 2 }], count: 2 });
  });
});

describe('when a flash is written into a visitor session', () => {
  it('then the page and the API show it until it is acknowledged, and bad acks change nothing', async () => {
    const visitor = await newVisitor();
    const { flash } = await t.sessions.writeFlash({ session: keyOf(visitor) }, { key: 'notice', message: 'Hello <b>you</b>' });

    const page = await (await visitor.request('/')).text();
    expect(page).toContain(`data-flash-id="${flash.id}"`);
    expect(page).toContain('Hello &lt;b&gt;you&lt;/b&gt;');
    const listed = await visitor.json<FlashesResponse>('/api/flashes');
    expect(listed.body.flashes.map((f) => [f.id, f.key, f.message])).toEqual([[flash.id, 'notice', 'Hello <b>you</b>']]);

    for (const json of [{}, { ids: 'x' }, { ids: [1] }, { ids: Array.from({ length: 101 }, () => flash.id) }]) {
      const response = await visitor.json<{ error: { code: string } }>('/api/flashes/ack', { method: 'POST', json });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
    }
    const unknown = await visitor.json('/api/flashes/ack', { method: 'POST', json: { ids: ['not-a-uuid', crypto.randomUUID()] } });
    expect(unknown).toEqual({ status: 200, body: { acknowledged: 0 } });
    expect((await visitor.json<FlashesResponse>('/api/flashes')).body.flashes).toHaveLength(1);

    const acked = await visitor.json('/api/flashes/ack', { method: 'POST', json: { ids: [flash.id] } });
    expect(acked).toEqual({ status: 200, body: { acknowledged: 1 } });
    expect((await visitor.json<FlashesResponse>('/api/flashes')).body.flashes).toEqual([]);
    expect(await (await visitor.request('/')).text()).not.toContain(flash.id);
  });

  it('then a newer flash under the same key replaces the older one', async () => {
    const visitor = await newVisitor();
    await t.sessions.writeFlash({ session: keyOf(visitor) }, { key: 'notice', message: 'first' });
    const { flash } = await t.sessions.writeFlash({ session: keyOf(visitor) }, { key: 'notice', message: 'second' });
    const listed = await visitor.json<FlashesResponse>('/api/flashes');
    expect(listed.body.flashes.map((f) => [f.id, f.message])).toEqual([[flash.id, 'second']]);
  });
});

describe('when ops write flashes through the API', () => {
  it('then a wrong or missing token gets 401', async () => {
    const anonymous = new Visitor(t.url);
    expect((await anonymous.request('/ops/api/sessions/stats')).status).toBe(401);
    expect((await anonymous.request('/ops/api/sessions/stats', { headers: opsHeaders('wrong-token-0123456789') })).status).toBe(401);
  });

  it('then bad input gets 400 with a code, and good input reaches the sessions it names', async () => {
    const ops = new Visitor(t.url);
    const headers = opsHeaders(TEST_OPS_TOKEN);
    for (const json of [
      { to: 'everyone', key: 'notice', message: 'x' },
      { to: 'all', key: 'has space', message: 'x' },
      { to: 'all', key: 'k'.repeat(33), message: 'x' },
      { to: 'all', key: 'notice', message: '' },
      { to: { sessions: [] }, key: 'notice', message: 'x' },
    ]) {
      const response = await ops.json<{ error: { code: string } }>('/ops/api/flashes', { method: 'POST', json, headers });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
    }

    const a = await newVisitor();
    const b = await newVisitor();
    const pushed = await ops.json<{ sessions: number }>('/ops/api/flashes', {
      method: 'POST',
      json: { to: { sessions: [keyOf(a), 'no-such-session'] }, key: 'sale-2026', message: 'Only you' },
      headers,
    });
    expect(pushed.status).toBe(201);
    expect(pushed.body.sessions).toBe(1);
    expect((await a.json<FlashesResponse>('/api/flashes')).body.flashes.map((f) => f.key)).toEqual(['sale-2026']);
    expect((await b.json<FlashesResponse>('/api/flashes')).body.flashes).toEqual([]);

    const all = await ops.json<{ sessions: number }>('/ops/api/flashes', {
      method: 'POST',
      json: { to: 'all', key: 'alert', message: 'Everyone' },
      headers,
    });
    const stats = await ops.json<{ total: number; expired: number; active: number; carts: number }>('/ops/api/sessions/stats', { headers });
    expect(all.body.sessions).toBe(stats.body.total - stats.body.expired);
    expect((await b.json<FlashesResponse>('/api/flashes')).body.flashes.map((f) => f.message)).toEqual(['Everyone']);
  });
});

describe('when the health check is asked', () => {
  it('then it answers ok while the database answers', async () => {
    expect(await new Visitor(t.url).json('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
  });
});
