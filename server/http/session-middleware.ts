import session from 'express-session';
import type { Request, RequestHandler } from 'express';
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

export const SESSION_COOKIE = 'flashcast.sid';

export function createSessionMiddleware(options: {
  store: SessionStore;
  secrets: readonly string[];
  ttlSeconds: number;
  secureCookies: boolean;
}): RequestHandler {
  return session({
    name: SESSION_COOKIE,
    store: options.store,
    secret: [...options.secrets],
    genid: options.store.generateId,
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
  }
  return sessionKey(req.sessionID);
}
