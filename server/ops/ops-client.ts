import type { ApiError } from '../../protocol/events.ts';

/** A failed ops API call, with the server's code and message when it sent one. */
export class OpsApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'OpsApiError';
  }
}

/** The ops HTTP API as functions: what the CLI (and any script) calls. */
export function createOpsClient(options: { url: string; token: string; fetch?: typeof fetch }) {
  const doFetch = options.fetch ?? fetch;

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await doFetch(new URL(`/ops/api${path}`, options.url), {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new OpsApiError(0, 'UNREACHABLE', `Cannot reach flashcast at ${options.url} (${(error as Error).cause ?? (error as Error).message}). Is it running? Set FLASHCAST_URL to its address.`);
    }
    const text = await response.text();
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    if (!response.ok) {
      const error = (parsed as Partial<ApiError> | undefined)?.error;
      throw new OpsApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? response.statusText);
    }
    return parsed as T;
  }

  return {
    get: <T = unknown>(path: string) => call<T>('GET', path),
    post: <T = unknown>(path: string, body?: unknown) => call<T>('POST', path, body ?? {}),
    put: <T = unknown>(path: string, body: unknown) => call<T>('PUT', path, body),
    patch: <T = unknown>(path: string, body: unknown) => call<T>('PATCH', path, body),
    delete: <T = unknown>(path: string) => call<T>('DELETE', path),
  };
}

export type OpsClient = ReturnType<typeof createOpsClient>;
