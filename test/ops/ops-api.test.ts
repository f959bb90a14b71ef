import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { JobInfo, JobRun } from '../../jobs/jobs.ts';
import type { Flash } from '../../protocol/events.ts';
import { type OpsResponse, type OpsRoute, type OpsRouteKey, opsApi } from '../../protocol/ops-api.ts';
import type { OpsClient } from '../../protocol/ops-client.ts';
import { errorResponse } from '../../protocol/ops-schemas.ts';
import type { MaintenanceStatus } from '../../server/maintenance/maintenance.ts';
import type { AuditEntry } from '../../server/ops-access/audit-log.ts';
import type { Operator } from '../../server/ops-access/operators.ts';
import type { Promotion, PromotionStats } from '../../server/promotions/promotions.ts';
import type { PresenceCounts } from '../../server/realtime/presence.ts';
import type { SessionStats } from '../../server/sessions/sessions.ts';
import { TEST_OPS_TOKEN } from '../support/app.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/**
 * The ops API as protocol/ops-api.ts describes it (issue 11): the OpenAPI document served at
 * /ops/api/openapi.json is well formed and covers the route table, and every route, called once
 * against the whole system as `npm start` wires it, answers what its response schema says:
 * the body parses, and carries no field the schema leaves out.
 */

let t: TestSystem;

beforeAll(async () => {
  t = await startTestSystem();
});
afterAll(() => t?.close());

interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

async function call(method: string, path: string, options: { json?: unknown; token?: string | null } = {}): Promise<Answer> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = options.token === undefined ? TEST_OPS_TOKEN : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${t.url}/ops/api${path}`, {
    method,
    headers,
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

const routeOf = (key: OpsRouteKey): OpsRoute => opsApi[key];

/**
 * One call per route, in an order that makes each one succeed: what a later call needs (a
 * promotion, an operator, a countdown) an earlier one creates.
 */
const ctx: { promotionId?: number; operator?: string } = {};
const calls: Array<{ key: OpsRouteKey; path: () => string; json?: unknown }> = [
  { key: 'POST /session', path: () => '/session', json: { token: TEST_OPS_TOKEN } },
  { key: 'DELETE /session', path: () => '/session' },
  { key: 'GET /session', path: () => '/session' },
  { key: 'POST /operators', path: () => '/operators', json: { name: 'ada', role: 'operator' } },
  { key: 'GET /operators', path: () => '/operators' },
  { key: 'DELETE /operators/:name', path: () => '/operators/ada' },
  { key: 'GET /presence', path: () => '/presence' },
  { key: 'GET /sessions/stats', path: () => '/sessions/stats' },
  { key: 'POST /flashes', path: () => '/flashes', json: { to: 'all', key: 'notice', message: 'Hello' } },
  {
    key: 'POST /promotions',
    path: () => '/promotions',
    json: { name: 'Spring', callToAction: '20% off', url: '/sale', startsAt: '2030-01-01T00:00:00Z', weight: 2 },
  },
  { key: 'GET /promotions', path: () => '/promotions' },
  { key: 'GET /promotions/:id', path: () => `/promotions/${ctx.promotionId}` },
  { key: 'PATCH /promotions/:id', path: () => `/promotions/${ctx.promotionId}`, json: { active: false, endsAt: null } },
  { key: 'GET /promotions/:id/stats', path: () => `/promotions/${ctx.promotionId}/stats` },
  { key: 'DELETE /promotions/:id', path: () => `/promotions/${ctx.promotionId}` },
  { key: 'GET /jobs', path: () => '/jobs' },
  { key: 'POST /jobs/:name/run', path: () => '/jobs/session-cleanup/run' },
  { key: 'PUT /jobs/:name/schedule', path: () => '/jobs/session-cleanup/schedule', json: { every: '5 minutes' } },
  { key: 'DELETE /jobs/:name/schedule', path: () => '/jobs/session-cleanup/schedule' },
  { key: 'POST /maintenance', path: () => '/maintenance', json: { seconds: 3600, message: 'Back soon' } },
  { key: 'GET /maintenance', path: () => '/maintenance' },
  { key: 'DELETE /maintenance', path: () => '/maintenance' },
  { key: 'GET /audit', path: () => '/audit?limit=5&result=ok' },
  { key: 'GET /openapi.json', path: () => '/openapi.json' },
];

describe('the route table', () => {
  it('when the test lists its calls, then every route of protocol/ops-api.ts is among them, once', () => {
    expect(calls.map((c) => c.key).sort()).toEqual(Object.keys(opsApi).sort());
  });

  it('when a client calls a known path, then its answer and body are typed from the schemas', () => {
    // Checked by the type checker (npx tsc --noEmit); never run.
    async function typed(api: OpsClient, id: number) {
      expectTypeOf(await api.get(`/promotions/${id}/stats`))
        .toHaveProperty('clicked')
        .toEqualTypeOf<number>();
      expectTypeOf(await api.get('/audit?limit=5'))
        .toHaveProperty('next')
        .toEqualTypeOf<number | undefined>();
      expectTypeOf(await api.send('DELETE', '/maintenance'))
        .toHaveProperty('previous')
        .toEqualTypeOf<'idle' | 'countdown' | 'active'>();
      expectTypeOf(await api.send('POST', '/promotions', { name: 'x', callToAction: 'y' }))
        .toHaveProperty('id')
        .toEqualTypeOf<number>();
      expectTypeOf(await api.get<{ mine: true }>('/elsewhere')).toEqualTypeOf<{ mine: true }>();
    }
    expect(typed).toBeTypeOf('function');
  });

  it("when the server's own types change, then the type checker holds them to the response schemas", () => {
    expectTypeOf<Promotion>().toExtend<OpsResponse<'GET /promotions/:id'>>();
    expectTypeOf<PromotionStats>().toExtend<OpsResponse<'GET /promotions/:id/stats'>>();
    expectTypeOf<{ jobs: JobInfo[] }>().toExtend<OpsResponse<'GET /jobs'>>();
    expectTypeOf<JobRun>().toExtend<OpsResponse<'POST /jobs/:name/run'>>();
    expectTypeOf<MaintenanceStatus>().toExtend<OpsResponse<'GET /maintenance'>>();
    expectTypeOf<Operator & { token: string }>().toExtend<OpsResponse<'POST /operators'>>();
    expectTypeOf<{ entries: AuditEntry[]; next?: number }>().toExtend<OpsResponse<'GET /audit'>>();
    expectTypeOf<SessionStats>().toExtend<OpsResponse<'GET /sessions/stats'>>();
    expectTypeOf<PresenceCounts>().toExtend<OpsResponse<'GET /presence'>>();
    expectTypeOf<{ sessions: number; flash: Flash }>().toExtend<OpsResponse<'POST /flashes'>>();
  });
});

describe('when every ops route is called once with valid input', () => {
  it.each(calls)('then $key answers its status and a body its response schema describes', async ({ key, path, json }) => {
    const route = routeOf(key);
    const answer = await call(route.method, path(), { json });
    expect(answer.status, JSON.stringify(answer.body)).toBe(route.status);
    const parsed = route.response.safeParse(answer.body);
    expect(parsed.error?.issues ?? [], JSON.stringify(answer.body)).toEqual([]);
    // The schema strips what it does not declare: an undocumented field shows up here.
    expect(parsed.data).toEqual(answer.body);
    if (key === 'POST /promotions') ctx.promotionId = (parsed.data as { id: number }).id;
  });
});

describe('when a route that takes a body gets a bad one', () => {
  const withBody = (Object.keys(opsApi) as OpsRouteKey[]).filter((key) => routeOf(key).body);

  it.each(withBody)('then %s answers 400 with the error shape and names what is wrong', async (key) => {
    const route = routeOf(key);
    const path = route.path.replace(':id', '1').replace(':name', 'session-cleanup');
    const answer = await call(route.method, path, { json: ['not', 'an', 'object'] });
    expect(answer.status).toBe(400);
    expect(errorResponse.parse(answer.body).error.code).toBe('VALIDATION_FAILED');
  });
});

describe('GET /ops/api/openapi.json', () => {
  // biome-ignore lint/suspicious/noExplicitAny: a JSON document, walked by hand
  let doc: any;
  beforeAll(async () => {
    const answer = await call('GET', '/openapi.json');
    expect(answer.status).toBe(200);
    doc = answer.body;
  });

  it('when called without credentials, then it answers 401 like the rest of /ops/api', async () => {
    const answer = await call('GET', '/openapi.json', { token: null });
    expect(answer.status).toBe(401);
    expect(errorResponse.parse(answer.body).error.code).toBe('UNAUTHORIZED');
  });

  it('when read, then it is an OpenAPI 3 document with every route of the table, its statuses and its inputs', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.keys(operations as object).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const expected = Object.values(opsApi).map((route) => `${route.method} /ops/api${route.path.replace(/:(\w+)/g, '{$1}')}`);
    expect(documented.sort()).toEqual(expected.sort());

    for (const route of Object.values(opsApi) as OpsRoute[]) {
      const path = `/ops/api${route.path.replace(/:(\w+)/g, '{$1}')}`;
      const operation = doc.paths[path][route.method.toLowerCase()];
      expect(operation.summary).toBe(route.summary);
      expect(Object.keys(operation.responses)).toContain(String(route.status));
      for (const status of route.errors) expect(Object.keys(operation.responses)).toContain(String(status));
      for (const response of Object.values(operation.responses) as Array<{ description: string; content: object }>) {
        expect(response.description).toEqual(expect.any(String));
        expect(Object.keys(response.content)).toEqual(['application/json']);
      }
      // Every {param} of the path is a required path parameter, and nothing else is.
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      const pathParameters = operation.parameters.filter((p: { in: string }) => p.in === 'path');
      expect(pathParameters.map((p: { name: string }) => p.name)).toEqual(inPath);
      expect(pathParameters.every((p: { required: boolean }) => p.required)).toBe(true);
      expect(Boolean(operation.requestBody)).toBe(Boolean(route.body));
      if (route.query) expect(operation.parameters.some((p: { in: string }) => p.in === 'query')).toBe(true);
      expect(operation.security).toEqual(route.access === 'public' ? [] : [{ bearer: [] }, { opsSession: [] }]);
      for (const requirement of operation.security) {
        for (const scheme of Object.keys(requirement)) expect(doc.components.securitySchemes[scheme]).toBeDefined();
      }
    }
  });

  it('when its schemas are walked, then each is a JSON Schema object and every $ref resolves', () => {
    const schemas: Array<{ where: string; schema: unknown }> = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      // biome-ignore lint/suspicious/noExplicitAny: as above
      for (const [method, operation] of Object.entries(operations as Record<string, any>)) {
        const at = `${method} ${path}`;
        for (const parameter of operation.parameters) schemas.push({ where: `${at} ${parameter.name}`, schema: parameter.schema });
        if (operation.requestBody) schemas.push({ where: `${at} body`, schema: operation.requestBody.content['application/json'].schema });
        for (const [status, response] of Object.entries(operation.responses)) {
          // biome-ignore lint/suspicious/noExplicitAny: as above
          schemas.push({ where: `${at} ${status}`, schema: (response as any).content['application/json'].schema });
        }
      }
    }
    for (const [name, schema] of Object.entries(doc.components.schemas)) schemas.push({ where: `#/components/schemas/${name}`, schema });
    expect(schemas.length).toBeGreaterThan(50);

    const problems: string[] = [];
    for (const { where, schema } of schemas) checkSchema(schema, where, doc, problems);
    expect(problems).toEqual([]);
  });
});

const JSON_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
const SCHEMA_LISTS = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const SCHEMA_VALUES = ['items', 'not', 'additionalProperties', 'contains', 'propertyNames', 'if', 'then', 'else'];
const SCHEMA_MAPS = ['properties', 'patternProperties', '$defs'];

/**
 * The structure JSON Schema 2020-12 (OpenAPI 3.1's dialect) requires of the keywords this
 * document uses: a schema is an object or a boolean; `type` names JSON types; subschemas are
 * schemas; `required` lists strings; `enum` is an array; `pattern` compiles; a `$ref` points
 * at something in the document. No validator package is installed, so this walks it by hand.
 */
function checkSchema(schema: unknown, where: string, doc: unknown, problems: string[]): void {
  if (typeof schema === 'boolean') return;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    problems.push(`${where}: not a schema (${JSON.stringify(schema)})`);
    return;
  }
  const s = schema as Record<string, unknown>;
  if ('$schema' in s) problems.push(`${where}: $schema inside an OpenAPI document`);
  if (s.$ref !== undefined) {
    if (typeof s.$ref !== 'string' || !s.$ref.startsWith('#/') || resolvePointer(doc, s.$ref) === undefined) {
      problems.push(`${where}: $ref ${String(s.$ref)} does not resolve`);
    }
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (types.length === 0 || !types.every((type) => typeof type === 'string' && JSON_TYPES.has(type))) {
      problems.push(`${where}: type ${JSON.stringify(s.type)}`);
    }
  }
  if (s.required !== undefined && !(Array.isArray(s.required) && s.required.every((name) => typeof name === 'string'))) {
    problems.push(`${where}: required must list property names`);
  }
  if (s.enum !== undefined && !(Array.isArray(s.enum) && s.enum.length > 0)) problems.push(`${where}: enum must be a non-empty array`);
  if (s.pattern !== undefined) {
    try {
      new RegExp(String(s.pattern), 'u');
    } catch {
      problems.push(`${where}: pattern does not compile`);
    }
  }
  for (const key of ['description', 'format', 'title']) {
    if (s[key] !== undefined && typeof s[key] !== 'string') problems.push(`${where}: ${key} must be a string`);
  }
  for (const key of ['minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems']) {
    if (s[key] !== undefined && typeof s[key] !== 'number') problems.push(`${where}: ${key} must be a number`);
  }
  for (const key of SCHEMA_LISTS) {
    if (s[key] === undefined) continue;
    if (!Array.isArray(s[key]) || (s[key] as unknown[]).length === 0) problems.push(`${where}: ${key} must be a non-empty array`);
    else for (const [index, item] of (s[key] as unknown[]).entries()) checkSchema(item, `${where}.${key}[${index}]`, doc, problems);
  }
  for (const key of SCHEMA_VALUES) if (s[key] !== undefined) checkSchema(s[key], `${where}.${key}`, doc, problems);
  for (const key of SCHEMA_MAPS) {
    if (s[key] === undefined) continue;
    if (typeof s[key] !== 'object' || s[key] === null) problems.push(`${where}: ${key} must be an object`);
    else for (const [name, item] of Object.entries(s[key] as object)) checkSchema(item, `${where}.${key}.${name}`, doc, problems);
  }
}

function resolvePointer(doc: unknown, ref: string): unknown {
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object' || !(part in node)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}
