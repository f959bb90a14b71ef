import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMaintenanceGate } from '../../server/maintenance/maintenance-gate.ts';
import { startTestApp, TEST_OPS_TOKEN, type TestApp } from '../support/app.ts';
import { idOf, keyOf, opsHeaders, Visitor } from '../support/http.ts';
import { sessionKey } from '../../server/sessions/session-key.ts';

/** SESSION_RATE_LIMIT of the flooded app: small, so that a bounded flood passes it. */
const LIMIT = 5;
const TRIAL_SECONDS = 60;
const TTL_SECONDS = 3600;

let limited: TestApp;
let trial: TestApp;
let production: TestApp;
let down: TestApp;

beforeAll(async () => {
  [limited, trial, production, down] = await Promise.all([
    startTestApp({ config: { sessionRateLimit: LIMIT } }),
    startTestApp({ ttlSeconds: TTL_SECONDS, trialSeconds: TRIAL_SECONDS }),
    startTestApp({ config: { production: true } }),
    // In maintenance mode: its page carries its own policy.
    startTestApp({
      extend: () => ({ visitorGate: createMaintenanceGate({ isDown: () => true, current: () => ({ state: 'active' }) as never }) }),
    }),
  ]);
});
afterAll(() => Promise.all([limited?.close(), trial?.close(), production?.close(), down?.close()]));

const sessionCount = async (t: TestApp): Promise<number> => (await t.pool.query('SELECT count(*)::int AS n FROM session')).rows[0].n;

/** Seconds from now until the stored expiry of a session. */
async function secondsLeft(t: TestApp, key: string): Promise<number> {
  const { rows } = await t.pool.query('SELECT extract(epoch FROM expire - now())::float AS left FROM session WHERE sid = $1', [key]);
  return rows[0]?.left ?? Number.NaN;
}

describe('when one address floods the site with cookieless page views', () => {
  it('then past SESSION_RATE_LIMIT it gets 429 with Retry-After, while an honest visitor with a cookie keeps working and /healthz answers', async () => {
    // The honest visitor started its session before the flood, from the same address.
    const honest = new Visitor(limited.url);
    expect((await honest.request('/')).status).toBe(200);
    expect((await honest.json('/api/cart/items', { method: 'POST', json: { sku: 'widget-pro', qty: 1 } })).status).toBe(201);
    const before = await sessionCount(limited);

    // Bounded in count and in time: 60 page views, or 10 s, whichever ends first.
    const deadline = Date.now() + 10_000;
    const statuses: number[] = [];
    let tooMany: Response | undefined;
    const honestDuring: number[] = [];
    const healthDuring: number[] = [];
    for (let round = 0; round < 6 && Date.now() < deadline; round += 1) {
      const views = await Promise.all(Array.from({ length: 10 }, () => fetch(`${limited.url}/`, { headers: { accept: 'text/html' } })));
      for (const view of views) {
        statuses.push(view.status);
        if (view.status === 429) tooMany ??= view;
        else await view.arrayBuffer();
      }
      honestDuring.push((await honest.request('/')).status);
      healthDuring.push((await fetch(`${limited.url}/healthz`)).status);
    }

    // The honest visitor took one of the LIMIT; a token refills every 60 / LIMIT s, which a
    // slow machine may see once within the flood's 10 s.
    const admitted = statuses.filter((status) => status === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(LIMIT - 1);
    expect(admitted).toBeLessThanOrEqual(LIMIT);
    expect(statuses.filter((status) => status === 429).length).toBe(statuses.length - admitted);
    expect(Number(tooMany!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(tooMany!.headers.get('set-cookie')).toBeNull();
    expect(tooMany!.headers.get('content-type')).toMatch(/text\/html/);
    expect(await tooMany!.text()).toMatch(/Too many new visits/);
    // Only the admitted ones were stored.
    expect(await sessionCount(limited)).toBe(before + admitted);

    // The honest visitor never noticed; nor did the health check.
    expect(honestDuring.every((status) => status === 200)).toBe(true);
    expect(healthDuring.every((status) => status === 200)).toBe(true);
    const cart = await honest.json<{ count: number }>('/api/cart/items', { method: 'POST', json: { sku: 'widget-pro', qty: 1 } });
    expect(cart).toMatchObject({ status: 201, body: { count: 2 } });

    // The API answers in our error shape, with Retry-After too.
    const stranger = new Visitor(limited.url);
    const refused = await stranger.request('/api/cart/items', { method: 'POST', json: { sku: 'widget-pro', qty: 1 } });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toMatchObject({ error: { code: 'TOO_MANY_SESSIONS' } });
  });
});

describe('when a new visitor gets a session', () => {
  it('then it is stored on the trial lifetime, and its return extends it to the full SESSION_TTL_SECONDS', async () => {
    const visitor = new Visitor(trial.url);
    expect((await visitor.request('/')).status).toBe(200);
    const key = keyOf(visitor);
    expect(await secondsLeft(trial, key)).toBeGreaterThan(TRIAL_SECONDS - 10);
    expect(await secondsLeft(trial, key)).toBeLessThanOrEqual(TRIAL_SECONDS);

    // Its page's widget fetches its flashes: the visitor came back.
    expect((await visitor.request('/api/flashes')).status).toBe(200);
    expect(await secondsLeft(trial, key)).toBeGreaterThan(TTL_SECONDS - 10);
  });

  it('then a cart item, which inserts the session before the response, starts it on the trial lifetime too', async () => {
    const visitor = new Visitor(trial.url);
    expect((await visitor.request('/api/cart/items', { method: 'POST', json: { sku: 'widget-pro', qty: 1 } })).status).toBe(201);
    expect(await secondsLeft(trial, keyOf(visitor))).toBeLessThanOrEqual(TRIAL_SECONDS);
  });

  it('then a client that never sends its cookie back leaves only rows that expire within the trial', async () => {
    for (let i = 0; i < 20; i += 1) await (await fetch(`${trial.url}/products/widget-pro`)).arrayBuffer();
    // Twenty rows (the only sessions here with a recently viewed list), none outliving the trial.
    const { rows } = await trial.pool.query(
      `SELECT count(*)::int AS n, max(extract(epoch FROM expire - now()))::float AS longest
         FROM session WHERE sess->'recentlyViewed' IS NOT NULL`,
    );
    expect(rows[0].n).toBe(20);
    expect(rows[0].longest).toBeLessThanOrEqual(TRIAL_SECONDS);
  });
});

describe('when the site runs in production', () => {
  const https = { 'x-forwarded-proto': 'https' };

  it('then the session cookie is __Host-flashcast.sid: Secure, Path=/, no Domain, HttpOnly', async () => {
    const visitor = new Visitor(production.url);
    const first = await visitor.request('/', { headers: https });
    expect(first.status).toBe(200);
    const [cookie] = first.headers.getSetCookie();
    expect(cookie).toMatch(/^__Host-flashcast\.sid=/);
    expect(cookie).toMatch(/; Path=\/(;|$)/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).not.toMatch(/Domain=/i);
    expect(visitor.cookies.has('flashcast.sid')).toBe(false);

    // It identifies the visitor on its return.
    const key = sessionKey(idOf(visitor, '__Host-flashcast.sid'));
    expect(await production.sessions.find(key)).toBeDefined();
    await production.push.flash({ sessions: [key] }, { key: 'notice', message: 'Hello, secure visitor' });
    const again = await visitor.json<{ flashes: Array<{ message: string }> }>('/api/flashes', { headers: https });
    expect(again.body.flashes.map((flash) => flash.message)).toEqual(['Hello, secure visitor']);
    // The development name means nothing here.
    const impostor = new Visitor(production.url);
    impostor.cookies.set('flashcast.sid', visitor.cookies.get('__Host-flashcast.sid')!);
    expect((await impostor.json<{ flashes: unknown[] }>('/api/flashes', { headers: https })).body.flashes).toEqual([]);
  });

  it('then a plain-HTTP request, whose Secure cookie is not sent, stores no session either', async () => {
    const before = await sessionCount(production);
    const visitor = new Visitor(production.url);
    for (const page of ['/', '/products/widget-pro']) {
      const response = await visitor.request(page);
      expect(response.status, page).toBe(200);
      expect(response.headers.getSetCookie(), page).toEqual([]);
    }
    const cart = await visitor.json<{ error: { code: string } }>('/api/cart/items', {
      method: 'POST',
      json: { sku: 'widget-pro', qty: 1 },
    });
    expect(cart).toMatchObject({ status: 403, body: { error: { code: 'HTTPS_REQUIRED' } } });
    expect(await sessionCount(production)).toBe(before);
  });
});

describe('when a page or API answer carries a visitor’s flashes, or ops data', () => {
  it('then it says Cache-Control: no-store', async () => {
    const visitor = new Visitor(limited.url);
    for (const page of ['/', '/products/widget-pro', '/cart', '/api/flashes', '/api/cart']) {
      const response = await visitor.request(page);
      expect(response.headers.get('cache-control'), page).toBe('no-store');
    }
    for (const token of [TEST_OPS_TOKEN, 'wrong-token-0123456789']) {
      const response = await fetch(`${limited.url}/ops/api/sessions/stats`, { headers: opsHeaders(token) });
      await response.arrayBuffer();
      expect(response.headers.get('cache-control'), token).toBe('no-store');
    }
  });
});

describe('when a page is served', () => {
  /** The style sources of a Content-Security-Policy header. */
  const styleSources = (policy: string | null): string[] => {
    const directive = (policy ?? '')
      .split(';')
      .map((part) => part.trim())
      .find((part) => part.startsWith('style-src '));
    return directive?.split(/\s+/).slice(1) ?? [];
  };
  const wildcard = (source: string) => source === '*' || source === "'unsafe-inline'" || /^[a-z-]+:$/.test(source) || source.includes('*');

  it('then its Content-Security-Policy allows no wildcard style source, nor inline style but by hash', async () => {
    const pages = [
      await fetch(`${limited.url}/`),
      await fetch(`${limited.url}/ops`),
      await fetch(`${down.url}/`, { headers: { accept: 'text/html' } }),
    ];
    for (const page of pages) {
      const sources = styleSources(page.headers.get('content-security-policy'));
      expect(sources.length, page.url).toBeGreaterThan(0);
      expect(sources.filter(wildcard), page.url).toEqual([]);
    }
    const fonts = (policy: string | null) =>
      (policy ?? '')
        .split(';')
        .map((part) => part.trim())
        .find((part) => part.startsWith('font-src '));
    expect(fonts(pages[0]!.headers.get('content-security-policy'))).not.toMatch(/https:/);
  });
});

describe('when the browser code is built for production', () => {
  it('then it publishes no source map, and no file points to one', async () => {
    const { build } = await import('vite');
    const outDir = await mkdtemp(path.join(tmpdir(), 'flashcast-build-'));
    try {
      await build({
        configFile: fileURLToPath(new URL('../../vite.config.ts', import.meta.url)),
        logLevel: 'silent',
        build: { outDir, emptyOutDir: true },
      });
      const files = await readdir(path.join(outDir, 'assets'));
      expect(files.some((file) => file.endsWith('.js'))).toBe(true);
      expect(files.filter((file) => file.endsWith('.map'))).toEqual([]);
      for (const file of files) expect(await readFile(path.join(outDir, 'assets', file), 'utf8'), file).not.toMatch(/sourceMappingURL/);
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  });
});
