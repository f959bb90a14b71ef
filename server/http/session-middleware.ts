import session from 'express-session';
import type { Request, RequestHandler } from 'express';
import type { TLSSocket } from 'node:tls';
import { AppError } from '../errors.ts';
import type { SessionStore } from '../sessions/session-store.ts';
import { sessionKey } from '../sessions/session-key.ts';
import type { Flash } from '../../protocol/events.ts';

declare module 'express-session' {
  interface SessionData {
    /** Presented by the store from the flashes table at load; never written back. */
    flash: Flash[];
    startedAt: number;
    recentlyViewed: string[];
  }
}

/** The session cookie's name in development and tests. */
export const SESSION_COOKIE = 'flashcast.sid';
/**
 * Its name in production (secure cookies). Browsers keep a `__Host-` cookie only if it is
 * Secure, has Path=/ and no Domain, so neither a sibling subdomain nor a plain-HTTP response
 * can plant or overwrite a visitor's session cookie.
 */
export const SECURE_SESSION_COOKIE = `__Host-${SESSION_COOKIE}`;

/** The session cookie's name: what express-session sets and the socket handshake reads. */
export const sessionCookieName = (secureCookies: boolean): string => (secureCookies ? SECURE_SESSION_COOKIE : SESSION_COOKIE);

/**
 * Whether express-session sends a Secure cookie on this request: over TLS, or behind a proxy
 * that says `X-Forwarded-Proto: https` (its `issecure` with `proxy: true`, as set below).
 */
function cookieCanBeSent(req: Request): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  const header = req.headers['x-forwarded-proto'];
  const proto = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim().toLowerCase();
  return proto === 'https';
}

export function createSessionMiddleware(options: {
  store: SessionStore;
  secrets: readonly string[];
  ttlSeconds: number;
  secureCookies: boolean;
}): RequestHandler {
  const { store } = options;
  return session({
    name: sessionCookieName(options.secureCookies),
    store,
    secret: [...options.secrets],
    genid: (req) => {
      const id = store.generateId(req);
      // express-session leaves out a Secure cookie on a plain-HTTP request, yet saves the new
      // session all the same: a row that nobody could ever present. The store skips it.
      if (options.secureCookies && !cookieCanBeSent(req)) store.neverInsert(req);
      return id;
    },
    resave: false,
    saveUninitialized: false,
    // The cookie's expiry follows activity like the stored row's; re-sending it writes nothing.
    rolling: true,
    proxy: options.secureCookies ? true : undefined,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      secure: options.secureCookies,
      maxAge: options.ttlSeconds * 1000,
    },
  });
}

/** Whether the request carries a stored session (as opposed to a fresh, unsaved one). */
export function hasStoredSession(req: Request, store: SessionStore): boolean {
  return Boolean(req.session) && !store.isUnsaved(req, req.sessionID);
}

/** The stored key of the request's session, inserting a new session first if need be. */
export async function ensureStoredSession(req: Request, store: SessionStore): Promise<string> {
  if (store.isUnsaved(req, req.sessionID)) {
    req.session.startedAt ??= Date.now();
    await new Promise<void>((resolve, reject) => req.session.save((error) => (error ? reject(error) : resolve())));
    // Still unsaved: a production request over plain HTTP, whose cookie would not be sent.
    if (store.isUnsaved(req, req.sessionID)) {
      throw new AppError('HTTPS_REQUIRED', 'This site keeps sessions over HTTPS only; open it with https://.');
    }
  }
  return sessionKey(req.sessionID);
}
