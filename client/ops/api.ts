/**
 * The ops console's client of /ops/api (CONTRACT.md, "Ops HTTP"). Every call carries the
 * bearer token the operator pasted; a 401 drops it and asks again. Failures become
 * `OpsApiError` with the server's code and message, so every card can say what went wrong.
 */
import type { ApiError } from '../../protocol/events.ts';

export class OpsApiError extends Error {
  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'OpsApiError';
  }
}

export interface OpsApi {
  get<T>(path: string): Promise<T>;
  send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T>;
}

export interface OpsApiOptions {
  token(): string | undefined;
  /** The token was refused (401): forget it and ask for another. */
  onUnauthorized(): void;
}

async function readError(response: Response): Promise<OpsApiError> {
  const body = (await response.json().catch(() => undefined)) as Partial<ApiError> | undefined;
  const code = typeof body?.error?.code === 'string' ? body.error.code : `HTTP_${response.status}`;
  const message =
    typeof body?.error?.message === 'string' && body.error.message !== ''
      ? body.error.message
      : `The server answered ${response.status} ${response.statusText}`.trim();
  return new OpsApiError(response.status, code, message);
}

export function createOpsApi({ token, onUnauthorized }: OpsApiOptions): OpsApi {
  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const current = token();
    if (!current) throw new OpsApiError(401, 'UNAUTHORIZED', 'Paste the ops token first.');
    const headers: Record<string, string> = { authorization: `Bearer ${current}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`/ops/api${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'same-origin',
      });
    } catch {
      throw new OpsApiError(0, 'NETWORK', 'Could not reach the server. Is it running?');
    }
    if (response.status === 401) {
      onUnauthorized();
      throw new OpsApiError(401, 'UNAUTHORIZED', 'The ops token was refused. Paste the current OPS_TOKEN.');
    }
    if (!response.ok) throw await readError(response);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
  return {
    get: (path) => request('GET', path),
    send: (method, path, body) => request(method, path, body),
  };
}
