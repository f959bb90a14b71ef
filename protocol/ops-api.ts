import type { z } from 'zod';
import * as s from './ops-schemas.ts';

/**
 * Every route under /ops/api, once (CONTRACT.md, "Ops HTTP"): what it takes and what it
 * answers. The server's routes parse their input with these schemas, GET /ops/api/openapi.json
 * is generated from this table (server/http/openapi-document.ts), the client's types come
 * from it (ops-client.ts, type-only), and test/ops/ops-api.test.ts calls every route in it
 * and parses each answer with its `response`.
 *
 * Paths are relative to /ops/api, in Express's `:param` form. `access` is the least role that
 * may call the route: `public` needs no credentials (signing in and out), `viewer` reads,
 * `operator` writes, `admin` is OPS_TOKEN alone. A route's `errors` are the statuses of its
 * own failures, all with the one error body; the statuses that access implies (401, 403) and
 * those of any request (415 for a body that is not JSON, 503 while the database is away) are
 * added by the document.
 */
/** The document's version (OpenAPI info.version): a new minor for additions, a new major for changes. */
export const OPS_API_VERSION = '1.0.0';

export type OpsMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
export type OpsAccessLevel = 'public' | 'viewer' | 'operator' | 'admin';

export interface OpsRoute {
  method: OpsMethod;
  path: string;
  summary: string;
  access: OpsAccessLevel;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The status of success, and what it answers. */
  status: 200 | 201 | 202;
  response: z.ZodType;
  errors: readonly number[];
}

export const opsApi = {
  'POST /session': {
    method: 'POST',
    path: '/session',
    summary: 'Sign in to the console with OPS_TOKEN or an operator token; sets the ops session cookie',
    access: 'public',
    body: s.signInRequest,
    status: 201,
    response: s.signInResponse,
    errors: [400, 401, 429],
  },
  'DELETE /session': {
    method: 'DELETE',
    path: '/session',
    summary: "Sign out: ends the console's ops session, if any",
    access: 'public',
    status: 200,
    response: s.signOutResponse,
    errors: [],
  },
  'GET /session': {
    method: 'GET',
    path: '/session',
    summary: 'Who the credentials belong to, their role, and how they came (token or session)',
    access: 'viewer',
    status: 200,
    response: s.whoAmIResponse,
    errors: [],
  },
  'GET /operators': {
    method: 'GET',
    path: '/operators',
    summary: 'The named operators, revoked ones last',
    access: 'admin',
    status: 200,
    response: s.operatorsResponse,
    errors: [],
  },
  'POST /operators': {
    method: 'POST',
    path: '/operators',
    summary: 'Creates an operator; the answer carries its token, shown this once',
    access: 'admin',
    body: s.createOperatorRequest,
    status: 201,
    response: s.createdOperatorResponse,
    errors: [400, 409],
  },
  'DELETE /operators/:name': {
    method: 'DELETE',
    path: '/operators/:name',
    summary: "Revokes an operator's token and ends its console sessions",
    access: 'admin',
    params: s.operatorParams,
    status: 200,
    response: s.operator,
    errors: [400, 404],
  },
  'GET /audit': {
    method: 'GET',
    path: '/audit',
    summary: 'The audit trail, newest first: every ops write and every refused authentication',
    access: 'viewer',
    query: s.auditQuery,
    status: 200,
    response: s.auditResponse,
    errors: [400],
  },
  'GET /presence': {
    method: 'GET',
    path: '/presence',
    summary: 'Sessions with an open socket, and the sockets',
    access: 'viewer',
    status: 200,
    response: s.presenceResponse,
    errors: [],
  },
  'GET /sessions/stats': {
    method: 'GET',
    path: '/sessions/stats',
    summary: 'Stored sessions: all, expired, active, and those with a cart',
    access: 'viewer',
    status: 200,
    response: s.sessionStatsResponse,
    errors: [],
  },
  'POST /flashes': {
    method: 'POST',
    path: '/flashes',
    summary: 'Writes a flash into sessions and pushes it to their open tabs',
    access: 'operator',
    body: s.pushFlashRequest,
    status: 201,
    response: s.pushFlashResponse,
    errors: [400],
  },
  'GET /promotions': {
    method: 'GET',
    path: '/promotions',
    summary: 'Every promotion',
    access: 'viewer',
    status: 200,
    response: s.promotionsResponse,
    errors: [],
  },
  'POST /promotions': {
    method: 'POST',
    path: '/promotions',
    summary: 'Creates a promotion',
    access: 'operator',
    body: s.createPromotionRequest,
    status: 201,
    response: s.promotion,
    errors: [400],
  },
  'GET /promotions/:id': {
    method: 'GET',
    path: '/promotions/:id',
    summary: 'One promotion',
    access: 'viewer',
    params: s.promotionParams,
    status: 200,
    response: s.promotion,
    errors: [404],
  },
  'PATCH /promotions/:id': {
    method: 'PATCH',
    path: '/promotions/:id',
    summary: 'Changes any of a promotion’s fields; null clears url, startsAt or endsAt',
    access: 'operator',
    params: s.promotionParams,
    body: s.updatePromotionRequest,
    status: 200,
    response: s.promotion,
    errors: [400, 404],
  },
  'DELETE /promotions/:id': {
    method: 'DELETE',
    path: '/promotions/:id',
    summary: 'Deletes a promotion',
    access: 'operator',
    params: s.promotionParams,
    status: 200,
    response: s.deletedPromotionResponse,
    errors: [404],
  },
  'GET /promotions/:id/stats': {
    method: 'GET',
    path: '/promotions/:id/stats',
    summary: 'A promotion’s funnel: delivered, displayed, clicked, dismissed',
    access: 'viewer',
    params: s.promotionParams,
    status: 200,
    response: s.promotionStatsResponse,
    errors: [404],
  },
  'GET /jobs': {
    method: 'GET',
    path: '/jobs',
    summary: 'The jobs, their schedules and their last and next runs',
    access: 'viewer',
    status: 200,
    response: s.jobsResponse,
    errors: [],
  },
  'POST /jobs/:name/run': {
    method: 'POST',
    path: '/jobs/:name/run',
    summary: 'Runs a job now; answers once the run has finished, with its result',
    access: 'operator',
    params: s.jobParams,
    status: 200,
    response: s.jobRunResponse,
    errors: [400, 404, 500, 504],
  },
  'PUT /jobs/:name/schedule': {
    method: 'PUT',
    path: '/jobs/:name/schedule',
    summary: 'Sets a repeating schedule ("5 minutes", or a cron expression)',
    access: 'operator',
    params: s.jobParams,
    body: s.scheduleRequest,
    status: 200,
    response: s.jobInfo,
    errors: [400, 404],
  },
  'DELETE /jobs/:name/schedule': {
    method: 'DELETE',
    path: '/jobs/:name/schedule',
    summary: "Removes a job's repeating schedule",
    access: 'operator',
    params: s.jobParams,
    status: 200,
    response: s.jobInfo,
    errors: [400, 404],
  },
  'GET /maintenance': {
    method: 'GET',
    path: '/maintenance',
    summary: 'Where maintenance stands: idle, a countdown, or active',
    access: 'viewer',
    status: 200,
    response: s.maintenanceStatus,
    errors: [],
  },
  'POST /maintenance': {
    method: 'POST',
    path: '/maintenance',
    summary: 'Starts a countdown to maintenance; 409 unless idle',
    access: 'operator',
    body: s.startMaintenanceRequest,
    status: 202,
    response: s.maintenanceStatus,
    errors: [400, 409],
  },
  'DELETE /maintenance': {
    method: 'DELETE',
    path: '/maintenance',
    summary: 'Cancels a countdown or ends maintenance; already idle is not an error',
    access: 'operator',
    status: 200,
    response: s.cancelMaintenanceResponse,
    errors: [],
  },
  'GET /openapi.json': {
    method: 'GET',
    path: '/openapi.json',
    summary: 'This description of the ops API, as an OpenAPI 3.1 document',
    access: 'viewer',
    status: 200,
    response: s.openApiDocument,
    errors: [],
  },
} as const satisfies Record<string, OpsRoute>;

export type OpsRouteKey = keyof typeof opsApi;

/** What a route answers on success, as the client receives it. */
export type OpsResponse<K extends OpsRouteKey> = z.output<(typeof opsApi)[K]['response']>;

/** What a route takes as its JSON body (fields with a default may be left out). */
export type OpsRequestBody<K extends OpsRouteKey> = (typeof opsApi)[K] extends { body: infer B extends z.ZodType } ? z.input<B> : never;

/** A route's query string fields, as sent. */
export type OpsQuery<K extends OpsRouteKey> = (typeof opsApi)[K] extends { query: infer Q extends z.ZodType } ? z.input<Q> : never;
