/**
 * The client of the ops API (CONTRACT.md, "Ops HTTP"), shared by the ops console in the
 * browser and the ops CLI in a terminal. Failures become `OpsApiError` with the server's
 * code and message, so every caller can say what went wrong.
 */
import type { ApiError } from './events.ts';
// Types only: the schemas (and zod) stay out of the console's bundle (boundaries.test.ts).
import type { OpsRequestBody, OpsResponse, OpsRouteKey } from './ops-api.ts';

export type { OpsQuery, OpsRequestBody, OpsResponse, OpsRouteKey } from './ops-api.ts';

export class OpsApiError extends Error {
  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
    /** Retry-After of a 429 (too many refused tokens from this address), in seconds. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'OpsApiError';
  }
}

type Segments<Path extends string> = Path extends `${infer Head}/${infer Tail}` ? [Head, ...Segments<Tail>] : [Path];

/** Whether a concrete path (`/promotions/7/stats`) fits a route's (`/promotions/:id/stats`). */
type Fits<Concrete extends string[], Pattern extends string[]> = Concrete extends [infer C, ...infer CRest extends string[]]
  ? Pattern extends [infer P, ...infer PRest extends string[]]
    ? P extends `:${string}`
      ? Fits<CRest, PRest>
      : C extends P
        ? Fits<CRest, PRest>
        : false
    : false
  : Pattern extends []
    ? true
    : false;

type WithoutQuery<Path extends string> = Path extends `${infer Bare}?${string}` ? Bare : Path;

/** The route key ('GET /promotions/:id') a method and a concrete path call, if one fits. */
export type OpsRouteOf<Method extends string, Path extends string> = {
  [K in OpsRouteKey]: K extends `${Method} ${infer Pattern}`
    ? Fits<Segments<WithoutQuery<Path>>, Segments<Pattern>> extends true
      ? K
      : never
    : never;
}[OpsRouteKey];

type SendMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Paths are relative to /ops/api. Called with a path the route table knows, the answer is
 * typed from the route's response schema and a body from its request schema; any other
 * path (or an explicit type argument) answers what the caller says, as before.
 */
export interface OpsClient {
  get<const P extends string>(path: P & (OpsRouteOf<'GET', P> extends never ? never : P)): Promise<OpsResponse<OpsRouteOf<'GET', P>>>;
  get<T = unknown>(path: string): Promise<T>;
  send<M extends SendMethod, const P extends string>(
    method: M,
    path: P & (OpsRouteOf<M, P> extends never ? never : P),
    ...body: OpsRequestBody<OpsRouteOf<M, P>> extends never ? [] : [body: OpsRequestBody<OpsRouteOf<M, P>>]
  ): Promise<OpsResponse<OpsRouteOf<M, P>>>;
  send<T = unknown>(method: SendMethod, path: string, body?: unknown): Promise<T>;
}

export interface OpsClientOptions {
  /** Where flashcast runs, such as http://127.0.0.1:3000; '' for the page's own origin. */
  baseUrl: string;
  /**
   * The bearer token (the CLI: OPS_TOKEN or an operator token). Left out, requests carry no
   * Authorization header and rely on the ops session cookie (the console, after POST /session).
   */
  token?(): string | undefined;
  /** The credentials were refused (401): the console shows its sign-in again. */
  onUnauthorized?(): void;
}

async function readError(response: Response): Promise<OpsApiError> {
  const body = (await response.json().catch(() => undefined)) as Partial<ApiError> | undefined;
  const code = typeof body?.error?.code === 'string' ? body.error.code : `HTTP_${response.status}`;
  const message =
    typeof body?.error?.message === 'string' && body.error.message !== ''
      ? body.error.message
      : `The server answered ${response.status} ${response.statusText}`.trim();
  const retryAfter = Number(response.headers.get('retry-after'));
  return new OpsApiError(response.status, code, message, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
}

export function createOpsClient(options: OpsClientOptions): OpsClient {
  const where = (path: string) => (options.baseUrl ? new URL(`/ops/api${path}`, options.baseUrl).toString() : `/ops/api${path}`);

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token) {
      const token = options.token();
      if (!token) throw new OpsApiError(401, 'UNAUTHORIZED', 'No ops token: set OPS_TOKEN (or an operator token) for the CLI.');
      headers.authorization = `Bearer ${token}`;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(where(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        // The console's ops session cookie; same-origin only, never sent anywhere else.
        credentials: 'same-origin',
      });
    } catch {
      const at = options.baseUrl ? ` at ${options.baseUrl}` : '';
      throw new OpsApiError(0, 'UNREACHABLE', `Could not reach flashcast${at}. Is it running?`);
    }
    if (response.status === 401) options.onUnauthorized?.();
    if (!response.ok) throw await readError(response);
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  return {
    get: (path: string) => request('GET', path),
    send: (method: SendMethod, path: string, body?: unknown) => request(method, path, body),
  } as OpsClient;
}
