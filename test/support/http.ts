import { sessionKey } from '../../server/sessions/session-key.ts';

/**
 * A visitor over real HTTP: keeps its cookies like a browser would, so tests can speak of
 * "the same visitor" across requests. Built on fetch; no cookie-jar dependency needed for
 * one origin.
 */
export class Visitor {
  readonly cookies = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  get cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  async request(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', this.cookieHeader);
    let body = init.body;
    if (init.json !== undefined) {
      headers.set('content-type', 'application/json');
      body = JSON.stringify(init.json);
    }
    const response = await fetch(new URL(path, this.baseUrl), { ...init, headers, body, redirect: 'manual' });
    // Wait for the whole body: express-session holds back the last byte until the session is
    // saved, so "the response arrived" means "the headers arrived" and not yet "it was saved".
    await response.clone().arrayBuffer();
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    return response;
  }

  async json<T = unknown>(path: string, init: RequestInit & { json?: unknown } = {}): Promise<{ status: number; body: T }> {
    const response = await this.request(path, init);
    return { status: response.status, body: (await response.json()) as T };
  }
}

/** The bearer header of the ops API. */
export const opsHeaders = (token: string) => ({ authorization: `Bearer ${token}` });

/** The session id a signed session cookie's value (`s:<id>.<signature>`, URL-encoded) carries. */
export function idOfSignedCookie(value: string): string {
  const signed = decodeURIComponent(value);
  if (!signed.startsWith('s:')) throw new Error(`not a signed session cookie: ${signed}`);
  return signed.slice(2, signed.lastIndexOf('.'));
}

/** The session id a visitor's session cookie carries. */
export function idOf(visitor: Visitor, cookieName = 'flashcast.sid'): string {
  const value = visitor.cookies.get(cookieName);
  if (value === undefined) throw new Error(`the visitor has no ${cookieName} cookie`);
  return idOfSignedCookie(value);
}

/** The stored key of a visitor's session (what jobs, ops and rooms know it by). */
export const keyOf = (visitor: Visitor): string => sessionKey(idOf(visitor));
