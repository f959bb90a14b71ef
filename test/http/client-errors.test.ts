import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createMaintenanceRoutes } from '../../server/maintenance/maintenance-routes.ts';
import { createPromotionRoutes } from '../../server/promotions/promotion-routes.ts';
import { createPromotions, type Promotion } from '../../server/promotions/promotions.ts';
import { startTestApp, TEST_OPS_TOKEN, type TestApp } from '../support/app.ts';
import { opsHeaders, Visitor } from '../support/http.ts';

/**
 * Issue 8, "What we measured": broken URLs, bodies with a bogus or broken Content-Encoding and
 * NUL bytes in text fields answered 500 and logged an error with a stack. Each is the client's
 * fault: a 4xx in our error shape, and at most a debug line.
 */

let t: TestApp;
/** Every log line the app writes, parsed. */
const logLines: Array<{ level: number; msg: string; err?: unknown }> = [];
/** What the maintenance stub was asked to start: nothing, if validation holds. */
const maintenanceStarts: unknown[] = [];

const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logLines.push(JSON.parse(line));
    done();
  },
});
const PINO_ERROR = 50;
const PINO_DEBUG = 20;

beforeAll(async () => {
  t = await startTestApp({
    extend: (deps) => ({
      logger: pino({ level: 'debug' }, capture),
      opsApi: [
        createPromotionRoutes({ promotions: createPromotions({ pool: deps.pool }) }),
        createMaintenanceRoutes({
          status: async () => ({ state: 'idle' }) as never,
          start: async (input) => {
            maintenanceStarts.push(input);
            return { state: 'countdown' } as never;
          },
          cancel: async () => ({ previous: 'idle', status: { state: 'idle' } }) as never,
        }),
      ],
    }),
  });
});
afterAll(() => t.close());
beforeEach(() => {
  logLines.length = 0;
});

type ApiError = { error: { code: string; message: string } };

/** No error-level line (nor a stack) was logged; the refusal was a debug line. */
function expectOnlyDebugLogged(): void {
  expect(logLines.filter((line) => line.level >= PINO_ERROR)).toEqual([]);
  expect(logLines.some((line) => line.level === PINO_DEBUG && line.msg === 'request refused')).toBe(true);
}

async function ops(method: string, path: string, body: string): Promise<{ status: number; body: ApiError }> {
  const response = await fetch(`${t.url}/ops/api${path}`, {
    method,
    headers: { ...opsHeaders(TEST_OPS_TOKEN), 'content-type': 'application/json' },
    body,
  });
  return { status: response.status, body: (await response.json()) as ApiError };
}

describe('when a URL holds broken percent-encoding', () => {
  it('then it answers 400 MALFORMED_URL in our error shape, with a debug line and no error log', async () => {
    for (const path of ['/products/%E0%A4%A', '/products/%', '/ops/api/promotions/%E0%A4%A']) {
      const response = await fetch(`${t.url}${path}`, { headers: opsHeaders(TEST_OPS_TOKEN) });
      expect(response.status, path).toBe(400);
      expect(((await response.json()) as ApiError).error.code, path).toBe('MALFORMED_URL');
    }
    expectOnlyDebugLogged();
  });
});

describe('when a body has a Content-Encoding we do not read, or one that does not decode', () => {
  it('then an unknown encoding answers 415 and a broken gzip 400, both in our error shape, and a good gzip body works', async () => {
    const visitor = new Visitor(t.url);
    const json = JSON.stringify({ sku: 'widget-pro', qty: 1 });
    const post = (headers: Record<string, string>, body: BodyInit) =>
      visitor.json<ApiError>('/api/cart/items', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

    const bogus = await post({ 'content-encoding': 'bogus' }, json);
    expect(bogus).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_ENCODING' } } });
    const charset = await post({ 'content-type': 'application/json; charset=latin1' }, json);
    expect(charset).toMatchObject({ status: 415, body: { error: { code: 'UNSUPPORTED_ENCODING' } } });
    for (const encoding of ['gzip', 'deflate', 'br']) {
      const broken = await post({ 'content-encoding': encoding }, json);
      expect(broken, encoding).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    }
    expectOnlyDebugLogged();

    const good = await post({ 'content-encoding': 'gzip' }, new Uint8Array(gzipSync(json)));
    expect(good.status).toBe(201);
  });
});

describe('when a text field holds a NUL byte', () => {
  it('then every route that takes text answers 400 VALIDATION_FAILED naming the field, stores nothing, and logs no error', async () => {
    const nul = 'Hello\u0000world';
    const visitor = new Visitor(t.url);
    expect((await visitor.request('/')).status).toBe(200);
    const created = await ops('POST', '/promotions', JSON.stringify({ name: 'Clean', callToAction: 'A clean one' }));
    expect(created.status).toBe(201);
    const promotion = created.body as unknown as Promotion;

    const cases: Array<[string, () => Promise<{ status: number; body: ApiError }>, string]> = [
      ['cart sku', () => visitor.json<ApiError>('/api/cart/items', { method: 'POST', json: { sku: nul, qty: 1 } }), 'sku'],
      ['flash ack id', () => visitor.json<ApiError>('/api/flashes/ack', { method: 'POST', json: { ids: [nul] } }), 'ids.0'],
      ['flash message', () => ops('POST', '/flashes', JSON.stringify({ to: 'all', key: 'notice', message: nul })), 'message'],
      ['flash key', () => ops('POST', '/flashes', JSON.stringify({ to: 'all', key: nul, message: 'hi' })), 'key'],
      [
        'flash target',
        () => ops('POST', '/flashes', JSON.stringify({ to: { sessions: [nul] }, key: 'notice', message: 'hi' })),
        'to.sessions.0',
      ],
      ['promotion name', () => ops('POST', '/promotions', JSON.stringify({ name: nul, callToAction: 'Buy' })), 'name'],
      ['promotion call to action', () => ops('POST', '/promotions', JSON.stringify({ name: 'Sale', callToAction: nul })), 'callToAction'],
      ['promotion url', () => ops('POST', '/promotions', JSON.stringify({ name: 'Sale', callToAction: 'Buy', url: `/sale${nul}` })), 'url'],
      ['promotion patch', () => ops('PATCH', `/promotions/${promotion.id}`, JSON.stringify({ callToAction: nul })), 'callToAction'],
      ['maintenance message', () => ops('POST', '/maintenance', JSON.stringify({ seconds: 30, message: nul })), 'message'],
      // A NUL in a key of the body, too.
      ['a key', () => ops('POST', '/promotions', JSON.stringify({ name: 'Sale', callToAction: 'Buy', 'x\u0000': 1 })), 'x\\0'],
    ];
    for (const [name, send, field] of cases) {
      const answer = await send();
      expect(answer.status, name).toBe(400);
      expect(answer.body.error.code, name).toBe('VALIDATION_FAILED');
      expect(answer.body.error.message, name).toBe(`${field}: must not contain NUL characters`);
    }
    expectOnlyDebugLogged();

    expect(maintenanceStarts).toEqual([]);
    const listed = await fetch(`${t.url}/ops/api/promotions`, { headers: opsHeaders(TEST_OPS_TOKEN) });
    expect(((await listed.json()) as { promotions: Promotion[] }).promotions.map((p) => p.name)).toEqual(['Clean']);
    expect((await t.pool.query('SELECT count(*)::int AS n FROM flashes')).rows[0].n).toBe(0);
  });
});
