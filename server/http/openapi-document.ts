import { z } from 'zod';
import { OPS_API_VERSION, type OpsRoute, opsApi } from '../../protocol/ops-api.ts';
import { errorResponse } from '../../protocol/ops-schemas.ts';

/**
 * The OpenAPI 3.1 document of the ops API (GET /ops/api/openapi.json), built from the route
 * table in protocol/ops-api.ts: the same schemas the routes validate with, so the document
 * cannot drift from the server. OpenAPI 3.1 takes JSON Schema 2020-12 as it is, which is what
 * z.toJSONSchema writes; schemas with an id (`.meta({ id })`) become components.
 */

type JsonSchema = Record<string, unknown>;

export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string; description: string };
  servers: Array<{ url: string }>;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, JsonSchema>; securitySchemes: Record<string, unknown> };
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad input: the message names the field and says what it must be',
  401: 'No credentials, or wrong ones',
  403: 'The role may not do this, or the request came cross-site',
  404: 'Not found',
  409: 'Conflicts with the current state',
  415: 'The body is not JSON',
  429: 'Too many refused tokens from this address; Retry-After says when to try again',
  500: 'The job failed; the message says why',
  503: 'The database is unavailable; try again',
  504: 'The job did not finish in time',
};

/** Statuses every route may answer besides its own, by who may call it. */
function impliedErrors(route: OpsRoute): number[] {
  const statuses = [503];
  if (route.access !== 'public') statuses.push(401);
  // Viewers read; a write needs the operator role, and operators are the administrator's.
  if (route.method !== 'GET' || route.access === 'admin') statuses.push(403);
  if (route.body) statuses.push(415);
  return statuses;
}

/** Express's `/promotions/:id` as OpenAPI's `/ops/api/promotions/{id}`. */
const openApiPath = (path: string) => `/ops/api${path.replace(/:([A-Za-z_]\w*)/g, '{$1}')}`;

export function buildOpenApiDocument(): OpenApiDocument {
  const components: Record<string, JsonSchema> = {};

  /** A JSON Schema for `schema`, its named parts moved to components and referred to there. */
  function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
    const { $schema: _dialect, $defs, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
    for (const [id, definition] of Object.entries(($defs ?? {}) as Record<string, JsonSchema>)) {
      const named = relink(definition) as JsonSchema;
      const known = components[id];
      if (known && JSON.stringify(known) !== JSON.stringify(named)) {
        throw new Error(`Two different schemas are both named ${id} in protocol/ops-schemas.ts; give one another id.`);
      }
      components[id] = named;
    }
    return relink(rest) as JsonSchema;
  }

  const objectParameters = (schema: z.ZodType | undefined, where: 'path' | 'query') => {
    if (!schema) return [];
    const object = jsonSchema(schema, 'input');
    const properties = (object.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((object.required ?? []) as string[]);
    return Object.entries(properties).map(([name, property]) => {
      const { description, ...schemaOnly } = property;
      return {
        name,
        in: where,
        required: where === 'path' || required.has(name),
        ...(description ? { description } : {}),
        schema: schemaOnly,
      };
    });
  };

  const paths: OpenApiDocument['paths'] = {};
  for (const [key, route] of Object.entries(opsApi) as Array<[string, OpsRoute]>) {
    const responses: Record<string, unknown> = {
      [route.status]: {
        description: route.summary,
        content: { 'application/json': { schema: jsonSchema(route.response, 'output') } },
      },
    };
    const errorSchema = jsonSchema(errorResponse, 'output');
    for (const status of [...new Set([...route.errors, ...impliedErrors(route)])].sort((a, b) => a - b)) {
      responses[status] = {
        description: ERROR_DESCRIPTIONS[status] ?? 'An error',
        content: { 'application/json': { schema: errorSchema } },
      };
    }
    const body = route.body ? jsonSchema(route.body, 'input') : undefined;
    const operation = {
      operationId: operationId(key),
      summary: route.summary,
      'x-access': route.access,
      security: route.access === 'public' ? [] : [{ bearer: [] }, { opsSession: [] }],
      parameters: [...objectParameters(route.params, 'path'), ...objectParameters(route.query, 'query')],
      ...(body
        ? {
            requestBody: {
              // Routes read a missing body as {}: the body is required where {} is not enough.
              required: !route.body?.safeParse({}).success,
              content: { 'application/json': { schema: body } },
            },
          }
        : {}),
      responses,
    };
    paths[openApiPath(route.path)] = { ...paths[openApiPath(route.path)], [route.method.toLowerCase()]: operation };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'flashcast ops API',
      version: OPS_API_VERSION,
      description:
        'Everything under /ops/api (CONTRACT.md, "Ops HTTP"). Authenticate with `Authorization: Bearer <OPS_TOKEN or an operator token>`, or with the console\'s ops session cookie after POST /ops/api/session. Writes never come cross-site (403).',
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'OPS_TOKEN, or an operator token' },
        opsSession: {
          type: 'apiKey',
          in: 'cookie',
          name: 'flashcast.ops',
          description: 'The console session (named __Host-flashcast.ops in production)',
        },
      },
    },
  };
}

/** `#/$defs/X`, as z.toJSONSchema writes references, to `#/components/schemas/X`. */
function relink(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relink);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      key === '$ref' && typeof item === 'string' ? item.replace(/^#\/\$defs\//, '#/components/schemas/') : relink(item),
    ]),
  );
}

/** 'GET /promotions/:id/stats' → 'getPromotionsIdStats'. */
function operationId(key: string): string {
  const words = key
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  return words.map((word, index) => (index === 0 ? word : word[0]!.toUpperCase() + word.slice(1))).join('');
}
