import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPromotionRoutes } from '../../server/promotions/promotion-routes.ts';
import { createPromotions, type Promotion } from '../../server/promotions/promotions.ts';
import { startTestApp, TEST_OPS_TOKEN, type TestApp } from '../support/app.ts';
import { opsHeaders } from '../support/http.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    extend: (deps) => ({ opsApi: [createPromotionRoutes({ promotions: createPromotions({ pool: deps.pool }) })] }),
  });
});
afterAll(() => t.close());

async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  token = TEST_OPS_TOKEN,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${t.url}/ops/api${path}`, {
    method,
    headers: { ...opsHeaders(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

type ApiError = { error: { code: string; message: string } };

describe('when ops create a promotion', () => {
  it('then it can be read, listed, changed, counted and deleted', async () => {
    const created = await api<Promotion>('POST', '/promotions', {
      name: 'Spring sale',
      callToAction: '20% off everything today',
      active: true,
      url: '/sale',
      startsAt: '2030-01-01T00:00:00Z',
      endsAt: '2030-02-01T00:00:00+01:00',
      weight: 2.5,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.any(Number),
      name: 'Spring sale',
      callToAction: '20% off everything today',
      url: '/sale',
      active: true,
      startsAt: '2030-01-01T00:00:00.000Z',
      endsAt: '2030-01-31T23:00:00.000Z',
      weight: 2.5,
    });
    const id = created.body.id;

    expect((await api('GET', `/promotions/${id}`)).body).toEqual(created.body);
    const listed = await api<{ promotions: Promotion[] }>('GET', '/promotions');
    expect(listed.body.promotions.map((p) => p.id)).toContain(id);
    expect(await api('GET', `/promotions/${id}/stats`)).toEqual({
      status: 200,
      body: { delivered: 0, displayed: 0, clicked: 0, dismissed: 0 },
    });

    const patched = await api<Promotion>('PATCH', `/promotions/${id}`, { active: false, url: null, endsAt: null });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      id,
      active: false,
      url: null,
      endsAt: null,
      startsAt: '2030-01-01T00:00:00.000Z',
      name: 'Spring sale',
    });

    expect(await api('DELETE', `/promotions/${id}`)).toEqual({ status: 200, body: { deleted: id } });
    expect((await api<ApiError>('GET', `/promotions/${id}`)).status).toBe(404);
    expect((await api<ApiError>('GET', `/promotions/${id}/stats`)).status).toBe(404);
  });

  it('then the defaults are active and weight 1, with no link and no window', async () => {
    const created = await api<Promotion>('POST', '/promotions', { name: 'Plain', callToAction: 'Look!' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ active: true, weight: 1, url: null, startsAt: null, endsAt: null });
  });
});

describe('when the input is wrong', () => {
  const valid = { name: 'N', callToAction: 'C', active: true };
  const cases: Array<[string, unknown, RegExp]> = [
    ['no name', { callToAction: 'C' }, /^name: /],
    ['empty call to action', { ...valid, callToAction: '  ' }, /^callToAction: must not be empty/],
    ['a weight of 0', { ...valid, weight: 0 }, /^weight: must be greater than 0/],
    ['a negative weight', { ...valid, weight: -2 }, /^weight: /],
    ['a weight as text', { ...valid, weight: '3' }, /^weight: must be a number/],
    ['active as text', { ...valid, active: 'yes' }, /^active: must be true or false/],
    ['a time that is not ISO', { ...valid, startsAt: 'tomorrow' }, /^startsAt: must be an ISO time/],
    [
      'a window that ends before it starts',
      { ...valid, startsAt: '2030-01-02T00:00:00Z', endsAt: '2030-01-01T00:00:00Z' },
      /^endsAt: must be after startsAt/,
    ],
    ['a javascript: link', { ...valid, url: 'javascript:alert(1)' }, /^url: must be a path on this site/],
    ['a protocol-relative link', { ...valid, url: '//evil.example/x' }, /^url: /],
    ['a misspelt field', { ...valid, call_to_action: 'C' }, /call_to_action/],
  ];
  for (const [what, body, message] of cases) {
    it(`then ${what} is a 400 that names the field`, async () => {
      const response = await api<ApiError>('POST', '/promotions', body);
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
      expect(response.body.error.message).toMatch(message);
    });
  }

  it('then broken JSON is a 400 INVALID_JSON', async () => {
    const response = await api<ApiError>('POST', '/promotions', '{"name":');
    expect(response).toMatchObject({ status: 400, body: { error: { code: 'INVALID_JSON' } } });
  });

  it('then a PATCH that reverses the stored window is a 400, and an empty PATCH too', async () => {
    const { body: created } = await api<Promotion>('POST', '/promotions', { ...valid, endsAt: '2030-01-01T00:00:00Z' });
    const reversed = await api<ApiError>('PATCH', `/promotions/${created.id}`, { startsAt: '2030-06-01T00:00:00Z' });
    expect(reversed).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', message: 'endsAt: must be after startsAt' } },
    });
    const empty = await api<ApiError>('PATCH', `/promotions/${created.id}`, {});
    expect(empty).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION_FAILED' } } });
  });

  it('then an unknown or malformed id is a 404', async () => {
    for (const path of ['/promotions/999999', '/promotions/abc', '/promotions/1e3', '/promotions/99999999999/stats']) {
      const response = await api<ApiError>('GET', path);
      expect(response.status, path).toBe(404);
      expect(response.body.error.code).toBe('NOT_FOUND');
    }
    expect((await api('PATCH', '/promotions/999999', { active: false })).status).toBe(404);
    expect((await api('DELETE', '/promotions/999999')).status).toBe(404);
  });

  it('then a wrong token is a 401', async () => {
    expect((await api('GET', '/promotions', undefined, 'wrong-token-0123456789')).status).toBe(401);
  });
});
