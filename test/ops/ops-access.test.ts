import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_OPS_TOKEN, startTestApp, type TestApp } from '../support/app.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/**
 * Ops access (issue 8): every ops route and every Agendash write, against the whole system as
 * `npm start` wires it. Who may call what, that nothing changes on a cross-site request, and
 * that every allowed write leaves one audit row.
 */

let t: TestSystem;
let operatorToken: string;
let viewerToken: string;

// biome-ignore lint/suspicious/noExplicitAny: the answers of every ops route, read as the test needs
interface Answer<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

interface CallOptions {
  token?: string | undefined;
  cookie?: string;
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
}

// biome-ignore lint/suspicious/noExplicitAny: as above
async function call<T = any>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.cookie) headers.cookie = options.cookie;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await fetch(`${t.url}/ops${path}`, { method, headers, body, redirect: 'manual' });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // an HTML page
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}

const auditCount = async () => Number((await t.pool.query('SELECT count(*) FROM ops_audit')).rows[0].count);
const lastAudit = async () => (await t.pool.query('SELECT * FROM ops_audit ORDER BY id DESC LIMIT 1')).rows[0];
const cleanupScheduleRow = async () =>
  (await t.pool.query("SELECT id, repeat_interval, disabled FROM agenda_jobs WHERE name = 'session-cleanup' AND type = 'single'"))
    .rows[0] as { id: string; repeat_interval: string; disabled: boolean } | undefined;

async function signIn(token: string): Promise<string> {
  const answer = await call('POST', '/api/session', { json: { token } });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  const cookie = answer.headers.getSetCookie().find((line) => line.startsWith('flashcast.ops='))!;
  return cookie.split(';')[0]!;
}

beforeAll(async () => {
  t = await startTestSystem();
  const operator = await call('POST', '/api/operators', { token: TEST_OPS_TOKEN, json: { name: 'olivia', role: 'operator' } });
  const viewer = await call('POST', '/api/operators', { token: TEST_OPS_TOKEN, json: { name: 'victor', role: 'viewer' } });
  expect([operator.status, viewer.status]).toEqual([201, 201]);
  operatorToken = operator.body.token;
  viewerToken = viewer.body.token;
});
afterAll(() => t?.close());

/** Every read under /ops. `path` may use the promotion made in beforeAll of the read block. */
const reads = [
  '/api/session',
  '/api/presence',
  '/api/sessions/stats',
  '/api/promotions',
  '/api/promotions/1',
  '/api/promotions/1/stats',
  '/api/jobs',
  '/api/maintenance',
  '/api/operators',
  '/api/audit',
  '/api/openapi.json',
  '/jobs/api',
  '/jobs/api/stats',
];

/** Every write under /ops, Agendash's included; the body is a valid one. */
const writeRoutes: Array<{ method: string; path: string; json?: unknown }> = [
  { method: 'POST', path: '/api/flashes', json: { to: 'all', key: 'notice', message: 'x' } },
  { method: 'POST', path: '/api/promotions', json: { name: 'x', callToAction: 'x', active: false } },
  { method: 'PATCH', path: '/api/promotions/1', json: { weight: 2 } },
  { method: 'DELETE', path: '/api/promotions/1' },
  { method: 'POST', path: '/api/jobs/session-cleanup/run' },
  { method: 'PUT', path: '/api/jobs/session-cleanup/schedule', json: { every: '5 minutes' } },
  { method: 'DELETE', path: '/api/jobs/session-cleanup/schedule' },
  { method: 'POST', path: '/api/maintenance', json: { seconds: 3600 } },
  { method: 'DELETE', path: '/api/maintenance' },
  { method: 'POST', path: '/api/operators', json: { name: 'mallory', role: 'operator' } },
  { method: 'DELETE', path: '/api/operators/olivia' },
  { method: 'POST', path: '/jobs/api/jobs/create', json: { jobName: 'session-cleanup', jobRepeatEvery: '1 second' } },
  ...['requeue', 'retry', 'delete', 'pause', 'resume'].map((verb) => ({
    method: 'POST',
    path: `/jobs/api/jobs/${verb}`,
    json: { jobIds: ['00000000-0000-0000-0000-000000000000'] },
  })),
];

describe('when a request under /ops carries no credentials', () => {
  it.each([...reads.map((path) => ({ method: 'GET', path })), ...writeRoutes])(
    'then $method $path answers 401 and changes nothing',
    async (route) => {
      const before = await auditCount();
      const answer = await call(route.method, route.path, { json: 'json' in route ? route.json : undefined });
      expect(answer.status).toBe(401);
      expect(answer.body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect(answer.headers.get('www-authenticate')).toBeNull();
      expect(await auditCount()).toBe(before);
    },
  );
});

describe('when a viewer calls the ops API', () => {
  it.each(reads.filter((path) => path !== '/api/operators'))('then GET %s is allowed', async (path) => {
    const answer = await call('GET', path, { token: viewerToken });
    expect([200, 404]).toContain(answer.status); // promotion 1 may not exist: that is a read too
  });

  it("then the operators list is the administrator's only", async () => {
    expect((await call('GET', '/api/operators', { token: viewerToken })).status).toBe(403);
    expect((await call('GET', '/api/operators', { token: operatorToken })).status).toBe(403);
    expect((await call('GET', '/api/operators', { token: TEST_OPS_TOKEN })).status).toBe(200);
  });

  it.each(writeRoutes)('then $method $path is refused (403), changes nothing, and the refusal is audited', async (route) => {
    const scheduleBefore = await cleanupScheduleRow();
    const answer = await call(route.method, route.path, { token: viewerToken, json: route.json });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: { code: 'FORBIDDEN' } });
    expect(await cleanupScheduleRow()).toEqual(scheduleBefore);
    expect(await lastAudit()).toMatchObject({ actor: 'victor', role: 'viewer', result: 'refused', status: 403 });
  });
});

describe('when a write under /ops comes cross-site, with valid credentials', () => {
  const attacks: Array<{ name: string; headers: Record<string, string>; body?: string; json?: unknown; cookie?: boolean }> = [
    {
      name: "an urlencoded form post with the operator's cookie",
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' },
      body: 'jobName=session-cleanup&jobRepeatEvery=0+0+31+2+*',
      cookie: true,
    },
    {
      name: 'a form post from a same-site page on another port, with the cookie',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://127.0.0.1:1', 'sec-fetch-site': 'same-site' },
      body: 'jobName=session-cleanup&jobRepeatEvery=1+second',
      cookie: true,
    },
    { name: 'a text/plain body (no origin headers)', headers: { 'content-type': 'text/plain' }, body: '{"jobName":"session-cleanup"}' },
    { name: 'a JSON body from a foreign Origin', headers: { origin: 'https://evil.example' }, json: { jobName: 'session-cleanup' } },
    { name: 'Origin: null (a sandboxed frame)', headers: { origin: 'null' }, json: { jobName: 'session-cleanup' } },
    { name: 'a cookie-only write without any origin header', headers: {}, json: { jobName: 'session-cleanup' }, cookie: true },
  ];
  const targets = writeRoutes.filter((route) => route.method !== 'DELETE' || route.path.startsWith('/api/jobs'));

  it.each(attacks)('then $name is refused on every write and nothing changes', async (attack) => {
    const cookie = attack.cookie ? await signIn(operatorToken) : undefined;
    const token = attack.cookie ? undefined : TEST_OPS_TOKEN;
    for (const route of targets) {
      const scheduleBefore = await cleanupScheduleRow();
      const auditBefore = await auditCount();
      const promotionsBefore = (await t.pool.query('SELECT count(*) FROM promotions')).rows[0].count;
      const answer = await call(route.method, route.path, {
        token,
        ...(cookie ? { cookie } : {}),
        headers: attack.headers,
        ...(attack.body !== undefined ? { body: attack.body } : { json: attack.json }),
      });
      expect([403, 415], `${route.method} ${route.path}: ${answer.status}`).toContain(answer.status);
      expect(await cleanupScheduleRow()).toEqual(scheduleBefore);
      expect((await t.pool.query('SELECT count(*) FROM promotions')).rows[0].count).toBe(promotionsBefore);
      // Refused before anything ran: there is no write to audit.
      expect(await auditCount()).toBe(auditBefore);
    }
  });
});

describe('when operators write through the API and Agendash', () => {
  const ctx: { promotionId?: number; cleanupId?: string } = {};
  const same = { origin: '' }; // filled with the app's own origin
  const rows: Array<{
    method: string;
    path: () => string;
    json?: unknown;
    by?: 'admin' | 'session';
    status: number;
    action: string;
    target?: () => string;
    after?: (answer: Answer) => Promise<void> | void;
  }> = [
    {
      method: 'POST',
      path: () => '/api/flashes',
      json: { to: 'all', key: 'notice', message: 'audit me' },
      status: 201,
      action: 'flash.push',
      target: () => 'all',
    },
    {
      method: 'POST',
      path: () => '/api/promotions',
      json: { name: 'Audit sale', callToAction: '10% off', active: false },
      status: 201,
      action: 'promotion.create',
      target: () => String(ctx.promotionId),
      after: (answer) => {
        ctx.promotionId = answer.body.id;
      },
    },
    {
      method: 'PATCH',
      path: () => `/api/promotions/${ctx.promotionId}`,
      json: { weight: 2 },
      status: 200,
      action: 'promotion.update',
      target: () => String(ctx.promotionId),
    },
    { method: 'POST', path: () => '/api/jobs/session-cleanup/run', status: 200, action: 'job.run', target: () => 'session-cleanup' },
    {
      method: 'PUT',
      path: () => '/api/jobs/session-cleanup/schedule',
      json: { every: '20 minutes' },
      status: 200,
      action: 'job.schedule',
      target: () => 'session-cleanup',
    },
    {
      method: 'DELETE',
      path: () => '/api/jobs/session-cleanup/schedule',
      status: 200,
      action: 'job.unschedule',
      target: () => 'session-cleanup',
    },
    {
      method: 'POST',
      path: () => '/api/maintenance',
      json: { seconds: 3600, message: 'audited' },
      status: 202,
      action: 'maintenance.start',
      by: 'session',
    },
    { method: 'DELETE', path: () => '/api/maintenance', status: 200, action: 'maintenance.end', by: 'session' },
    {
      method: 'DELETE',
      path: () => `/api/promotions/${ctx.promotionId}`,
      status: 200,
      action: 'promotion.delete',
      target: () => String(ctx.promotionId),
    },
    {
      method: 'POST',
      path: () => '/api/operators',
      json: { name: 'temp', role: 'viewer' },
      by: 'admin',
      status: 201,
      action: 'operator.create',
      target: () => 'temp',
    },
    { method: 'DELETE', path: () => '/api/operators/temp', by: 'admin', status: 200, action: 'operator.revoke', target: () => 'temp' },
    {
      method: 'POST',
      path: () => '/jobs/api/jobs/create',
      json: { jobName: 'session-cleanup', jobRepeatEvery: '15 minutes' },
      by: 'session',
      status: 200,
      action: 'agendash.create',
      target: () => 'session-cleanup',
      after: async () => {
        const row = await cleanupScheduleRow();
        expect(row?.repeat_interval).toBe('15 minutes');
        ctx.cleanupId = row!.id;
      },
    },
    ...(['pause', 'resume', 'retry', 'requeue', 'delete'] as const).map((verb) => ({
      method: 'POST',
      path: () => `/jobs/api/jobs/${verb}`,
      get json() {
        return { jobIds: [ctx.cleanupId] };
      },
      by: 'session' as const,
      status: 200,
      action: `agendash.${verb}`,
      target: () => 'session-cleanup',
    })),
  ];

  let cookie: string;
  beforeAll(async () => {
    cookie = await signIn(operatorToken);
    same.origin = t.url;
  });

  it.each(rows)('then $action answers 2xx and leaves one audit row naming who did what', async (row) => {
    const before = await auditCount();
    const credentials =
      row.by === 'admin'
        ? { token: TEST_OPS_TOKEN }
        : row.by === 'session'
          ? { cookie, headers: { origin: same.origin } }
          : { token: operatorToken };
    const answer = await call(row.method, row.path(), { ...credentials, json: row.json });
    expect(answer.status, JSON.stringify(answer.body)).toBe(row.status);
    await row.after?.(answer);
    expect(await auditCount()).toBe(before + 1);
    const entry = await lastAudit();
    expect(entry).toMatchObject({
      actor: row.by === 'admin' ? 'admin' : 'olivia',
      action: row.action,
      result: 'ok',
      status: row.status,
      ip: expect.stringContaining('127.0.0.1'),
      user_agent: expect.any(String),
    });
    if (row.target) expect(entry.target).toBe(row.target());
    if (row.json) expect(entry.params).toEqual(row.json);
  });
});

describe('when someone writes schedules and jobs through Agendash', () => {
  it('then a schedule our API refuses is refused there too, and unknown jobs are never created', async () => {
    const admin = { token: TEST_OPS_TOKEN };
    await call('PUT', '/api/jobs/session-cleanup/schedule', { ...admin, json: { every: '10 minutes' } });
    const before = await cleanupScheduleRow();
    for (const every of ['0 0 31 2 *', 'a minute', '10 milliseconds', '1 minute banana']) {
      const api = await call('PUT', '/api/jobs/session-cleanup/schedule', { ...admin, json: { every } });
      const dash = await call('POST', '/jobs/api/jobs/create', { ...admin, json: { jobName: 'session-cleanup', jobRepeatEvery: every } });
      expect([api.status, dash.status], every).toEqual([400, 400]);
      expect(dash.body).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
    }
    expect(await cleanupScheduleRow()).toEqual(before);

    const jobsBefore = (await t.pool.query('SELECT count(*) FROM agenda_jobs')).rows[0].count;
    const unknown = await call('POST', '/jobs/api/jobs/create', { ...admin, json: { jobName: 'anything-at-all' } });
    const countdown = await call('POST', '/jobs/api/jobs/create', { ...admin, json: { jobName: 'maintenance-countdown' } });
    const withData = await call('POST', '/jobs/api/jobs/create', { ...admin, json: { jobName: 'session-cleanup', jobData: { x: 1 } } });
    const oneOff = await call('POST', '/jobs/api/jobs/create', {
      ...admin,
      json: { jobName: 'session-cleanup', jobSchedule: 'in 5 minutes' },
    });
    expect([unknown.status, countdown.status, withData.status, oneOff.status]).toEqual([400, 400, 400, 400]);
    expect((await t.pool.query('SELECT count(*) FROM agenda_jobs')).rows[0].count).toBe(jobsBefore);

    const notIds = await call('POST', '/jobs/api/jobs/requeue', { ...admin, json: { jobIds: ["'; drop table x"] } });
    expect(notIds.status).toBe(400);
    expect(JSON.stringify(notIds.body)).not.toMatch(/syntax|uuid|postgres/i);
  });
});

describe('when the console signs in with a token', () => {
  it('then it gets its own HttpOnly SameSite=Strict cookie, a new id each sign-in, and sign-out ends it', async () => {
    const answer = await call('POST', '/api/session', { json: { token: operatorToken } });
    expect(answer.status).toBe(201);
    expect(answer.body).toEqual({ actor: 'olivia', role: 'operator', idleSeconds: 1800 });
    const line = answer.headers.getSetCookie().find((c) => c.startsWith('flashcast.ops='))!;
    expect(line).toMatch(/HttpOnly/i);
    expect(line).toMatch(/SameSite=Strict/i);
    expect(line).toMatch(/Path=\//);
    const first = line.split(';')[0]!;
    expect((await call('GET', '/api/session', { cookie: first })).body).toEqual({ actor: 'olivia', role: 'operator', via: 'session' });
    // Only the id's hash is stored.
    const id = first.slice(first.indexOf('=') + 1);
    expect(
      (await t.pool.query('SELECT count(*) FROM ops_sessions WHERE id_hash = $1', [createHash('sha256').update(id).digest()])).rows[0]
        .count,
    ).toBe('1');

    const again = await call('POST', '/api/session', { cookie: first, json: { token: operatorToken } });
    const second = again.headers
      .getSetCookie()
      .find((c) => c.startsWith('flashcast.ops='))!
      .split(';')[0]!;
    expect(second).not.toBe(first);
    expect((await call('GET', '/api/session', { cookie: first })).status).toBe(401);
    expect((await call('GET', '/api/session', { cookie: second })).status).toBe(200);

    const out = await call('DELETE', '/api/session', { cookie: second, headers: { origin: t.url } });
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie().join()).toMatch(/flashcast\.ops=;/);
    expect((await call('GET', '/api/session', { cookie: second })).status).toBe(401);
    const signs = await call('GET', '/api/audit?actor=olivia&action=sign-out', { token: TEST_OPS_TOKEN });
    expect(signs.body.entries[0]).toMatchObject({ actor: 'olivia', action: 'sign-out', result: 'ok' });
  });

  it('then revoking the operator ends its sessions and its token at once', async () => {
    const made = await call('POST', '/api/operators', { token: TEST_OPS_TOKEN, json: { name: 'rita', role: 'operator' } });
    const cookie = await signIn(made.body.token);
    expect((await call('GET', '/api/presence', { cookie })).status).toBe(200);
    expect((await call('DELETE', '/api/operators/rita', { token: TEST_OPS_TOKEN })).status).toBe(200);
    expect((await call('GET', '/api/presence', { cookie })).status).toBe(401);
    expect((await call('GET', '/api/presence', { token: made.body.token })).status).toBe(401);
    const listed = await call('GET', '/api/operators', { token: TEST_OPS_TOKEN });
    expect(listed.body.operators.find((o: { name: string }) => o.name === 'rita')).toMatchObject({ revokedAt: expect.any(String) });
    expect(JSON.stringify(listed.body)).not.toContain(made.body.token);
    // The name can be given out again, with a new token.
    const again = await call('POST', '/api/operators', { token: TEST_OPS_TOKEN, json: { name: 'rita', role: 'viewer' } });
    expect(again.status).toBe(201);
    expect(again.body.token).not.toBe(made.body.token);
    expect((await call('POST', '/api/operators', { token: TEST_OPS_TOKEN, json: { name: 'rita', role: 'viewer' } })).status).toBe(409);
    expect((await call('POST', '/api/operators', { token: TEST_OPS_TOKEN, json: { name: 'admin', role: 'viewer' } })).status).toBe(400);
  });

  it('then operator tokens are long random strings, stored only as hashes', async () => {
    const made = await call('POST', '/api/operators', { token: TEST_OPS_TOKEN, json: { name: 'hash-check', role: 'viewer' } });
    expect(made.body.token).toMatch(/^fcop_[A-Za-z0-9_-]{43}$/);
    const { rows } = await t.pool.query("SELECT token_hash FROM ops_operators WHERE name = 'hash-check'");
    expect(rows[0].token_hash).toHaveLength(32);
    expect(rows[0].token_hash.toString('utf8')).not.toContain(made.body.token);
  });
});

describe('when ops read the audit trail', () => {
  it('then entries come newest first, filtered and paged', async () => {
    const admin = { token: TEST_OPS_TOKEN };
    for (const message of ['one', 'two', 'three']) {
      await call('POST', '/api/flashes', { token: operatorToken, json: { to: 'active', key: 'paging', message } });
    }
    const first = await call('GET', '/api/audit?actor=olivia&action=flash.push&limit=2', admin);
    expect(first.status).toBe(200);
    expect(first.body.entries.map((e: { params: { message: string } }) => e.params.message)).toEqual(['three', 'two']);
    expect(first.body.entries[0]).toMatchObject({
      at: expect.any(String),
      actor: 'olivia',
      action: 'flash.push',
      target: 'active',
      result: 'ok',
      ip: expect.any(String),
    });
    const older = await call('GET', `/api/audit?actor=olivia&action=flash.push&limit=2&before=${first.body.next}`, admin);
    expect(older.body.entries[0].params.message).toBe('one');
    const prefixed = await call('GET', '/api/audit?action=flash.&limit=200', admin);
    expect(prefixed.body.entries.every((e: { action: string }) => e.action.startsWith('flash.'))).toBe(true);
    expect((await call('GET', '/api/audit?limit=100000', admin)).status).toBe(400);
    expect((await call('GET', '/api/audit?result=maybe', admin)).status).toBe(400);
  });

  it('then a long body is kept bounded, and tokens never reach the trail', async () => {
    await call('POST', '/api/flashes', { token: operatorToken, json: { to: 'active', key: 'long', message: 'x'.repeat(900) } });
    const entry = await lastAudit();
    expect(entry.params.message.length).toBeLessThan(260);
    // PostgreSQL cannot store U+0000: a NUL byte probe is still one audit row, shown as \0.
    await call('POST', '/api/flashes', { token: operatorToken, json: { to: 'active', key: 'nul', message: 'a\u0000b', 'k\u0000': 1 } });
    expect(await lastAudit()).toMatchObject({ action: 'flash.push', params: { message: 'a\\0b', 'k\\0': 1 } });
    await call('POST', '/api/session', { json: { token: 'wrong-token-for-the-trail' } });
    const refused = await lastAudit();
    expect(refused).toMatchObject({ actor: 'anonymous', action: 'sign-in', result: 'refused', status: 401 });
    expect(JSON.stringify(refused)).not.toContain('wrong-token-for-the-trail');
  });
});

describe('when one address sends a burst of wrong tokens', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ config: { opsSignInLimits: { failures: 5, windowSeconds: 2 } } });
  });
  afterAll(() => app?.close());

  it('then after the burst it gets 429 with Retry-After, even for the right token, and one summary row', async () => {
    const get = (token: string) => fetch(`${app.url}/ops/api/presence`, { headers: { authorization: `Bearer ${token}` } });
    const signInCookie = await (async () => {
      const response = await fetch(`${app.url}/ops/api/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: TEST_OPS_TOKEN }),
      });
      return response.headers.getSetCookie()[0]!.split(';')[0]!;
    })();
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(`wrong-${i}-0123456789abcdef`)).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401]);
    const limited = await get('wrong-again-0123456789abcdef');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited.json()).toMatchObject({ error: { code: 'TOO_MANY_REQUESTS' } });
    expect((await get(TEST_OPS_TOKEN)).status).toBe(429);
    const signIn = await fetch(`${app.url}/ops/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TEST_OPS_TOKEN }),
    });
    expect(signIn.status).toBe(429);
    // A console already signed in keeps working.
    expect((await fetch(`${app.url}/ops/api/presence`, { headers: { cookie: signInCookie } })).status).toBe(404);
    expect((await fetch(`${app.url}/ops/api/sessions/stats`, { headers: { cookie: signInCookie } })).status).toBe(200);

    const refused = await app.pool.query("SELECT count(*) FROM ops_audit WHERE action = 'token' AND result = 'refused'");
    expect(Number(refused.rows[0].count)).toBe(5);
    await expect
      .poll(async () => (await app.pool.query("SELECT params FROM ops_audit WHERE action = 'sign-in.limited'")).rows, { timeout: 5000 })
      .toEqual([{ params: { blocked: 3, failures: 5, windowSeconds: 2 } }]);
    // The window is over: the right token works again.
    expect((await get(TEST_OPS_TOKEN)).status).toBe(404);
    expect((await fetch(`${app.url}/ops/api/sessions/stats`, { headers: { authorization: `Bearer ${TEST_OPS_TOKEN}` } })).status).toBe(200);
  });
});

describe('when a console session sits idle', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ config: { opsSessionIdleSeconds: 1 } });
  });
  afterAll(() => app?.close());

  it('then it ends after the idle timeout, and use keeps it alive until then', async () => {
    const response = await fetch(`${app.url}/ops/api/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TEST_OPS_TOKEN }),
    });
    const cookie = response.headers.getSetCookie()[0]!.split(';')[0]!;
    const stats = () => fetch(`${app.url}/ops/api/sessions/stats`, { headers: { cookie } }).then((r) => r.status);
    for (let i = 0; i < 4; i++) {
      expect(await stats()).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await stats()).toBe(401);
  });
});
