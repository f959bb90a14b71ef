import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import { SESSION_COOKIE } from '../http/session-middleware.ts';
import { sessionKey } from '../sessions/session-key.ts';
import { createOutageLog } from '../db/outage-log.ts';
import { createKeyedBatches } from './keyed-batches.ts';
import type { Metrics } from '../metrics.ts';

/** The most session keys one existence check asks for; more waiting handshakes take more statements. */
export const MAX_HANDSHAKE_BATCH = 1000;

/**
 * The one statement of a batch: which of these keys are stored, live sessions. A session still
 * on its trial lifetime (or about to expire: its expiry is within the trial's length) whose
 * visitor opens a socket is a visitor who came back: it gets the full lifetime, in the same
 * statement. Other sessions are only read, so a deploy's reconnect storm writes nothing.
 */
const CHECK_SESSIONS = `WITH live AS (
    SELECT sid, expire FROM session WHERE sid = ANY($1::text[]) AND expire > now()
  ), extended AS (
    UPDATE session s SET expire = now() + make_interval(secs => $2)
      FROM live
     WHERE s.sid = live.sid AND live.expire < now() + make_interval(secs => $3)
  )
  SELECT sid FROM live`;

export interface HandshakeSessions {
  /**
   * Engine.IO middleware step for a handshake request: checks the request's session cookie
   * and its session's existence, then calls `next` — with no argument whether or not a live
   * session was found (the Socket.IO middleware refuses with NO_SESSION through `keyOf`), with
   * an error when the check could not be made (the database failed): a generic refusal.
   */
  check(req: IncomingMessage, next: (error?: unknown) => void): void;
  /** The stored key of the handshake's session, if `check` found it live. */
  keyOf(req: IncomingMessage): string | undefined;
  /** Refuses the handshakes still waiting and checks no more (the server is closing). */
  close(): void;
}

type Settle = (outcome: 'live' | 'unknown' | Error) => void;

/**
 * The handshake's session check, without express-session: a connect storm (every visitor of
 * a deploy reconnecting at once) then costs one statement per batch instead of a full
 * session load per socket through the pool.
 *
 * The cookie is read and unsigned as express-session reads it: `flashcast.sid` (in production
 * `__Host-flashcast.sid`), URL-decoded,
 * `s:` + id + `.` + HMAC-SHA256 (cookie-signature), with any of the secrets (rotation). The
 * session's existence and non-expiry are checked by one statement at a time; handshakes that
 * arrive while it runs are gathered into the next one (at most MAX_HANDSHAKE_BATCH keys per
 * statement), as createAckQueue in socket-server.ts does for acknowledgements.
 *
 * Unlike express-session, the handshake neither re-sends the cookie nor extends the stored
 * expiry (`rolling`, the store's touch), except for a session on its trial lifetime. It need
 * not: a socket is opened by a page, whose load refreshed both, and the widget fetches
 * /api/flashes through express-session on every connect anyway.
 */
export function createHandshakeSessions(
  deps: {
    pool: Pool;
    logger: Logger;
    secrets: readonly string[];
    /** The session cookie's name (sessionCookieName: `__Host-` prefixed in production). */
    cookieName?: string;
    /** The store's lifetimes: a trial session that opens a socket gets the full TTL. */
    lifetimes: { ttlSeconds: number; trialSeconds: number };
    metrics?: Pick<Metrics, 'databaseReconnects'> | undefined;
  },
  options: { maxBatch?: number } = {},
): HandshakeSessions {
  const cookieName = deps.cookieName ?? SESSION_COOKIE;
  const { ttlSeconds, trialSeconds } = deps.lifetimes;
  // Checked at run time too: a caller still passing the former `sessionMiddleware` dep fails here, not per handshake.
  if (!Array.isArray(deps.secrets) || deps.secrets.length === 0)
    throw new TypeError('the handshake session check needs the session secrets');
  const keys: KeyObject[] = deps.secrets.map((secret) => createSecretKey(Buffer.from(secret, 'utf8')));
  const outage = createOutageLog(deps.logger, 'socket handshakes', deps.metrics);
  // Handshakes by session key (a visitor's tabs share one), one statement at a time.
  const batches = createKeyedBatches<Settle>({
    maxBatch: options.maxBatch ?? MAX_HANDSHAKE_BATCH,
    async run(batch) {
      let found: Set<string> | Error;
      try {
        const { rows } = await deps.pool.query<{ sid: string }>(CHECK_SESSIONS, [[...batch.keys()], ttlSeconds, trialSeconds]);
        found = new Set(rows.map((row) => row.sid));
        outage.recovered();
      } catch (error) {
        // Refused, and the client retries: once per outage in the log, not once per batch.
        outage.failed(error);
        found = new Error('session check failed');
      }
      for (const [key, settles] of batch) {
        const outcome = found instanceof Error ? found : found.has(key) ? 'live' : 'unknown';
        for (const settle of settles) settle(outcome);
      }
    },
    onClose: (left) => {
      for (const settle of left) settle(new Error('shutting down'));
    },
  });
  let closed = false;

  /** Handshakes whose session is live, with its stored key: read by the Socket.IO middleware. */
  const live = new WeakMap<IncomingMessage, string>();

  const unsign = (signed: string): string | undefined => {
    const dot = signed.lastIndexOf('.');
    if (dot <= 0) return undefined;
    const id = signed.slice(0, dot);
    const given = Buffer.from(signed.slice(dot + 1));
    for (const key of keys) {
      const expected = Buffer.from(createHmac('sha256', key).update(id).digest('base64').replace(/=+$/, ''));
      if (expected.length === given.length && timingSafeEqual(expected, given)) return id;
    }
    return undefined;
  };

  return {
    check(req, next) {
      if (closed) return next(new Error('shutting down'));
      const value = readCookie(req.headers.cookie, cookieName);
      const id = value?.startsWith('s:') ? unsign(value.slice(2)) : undefined;
      // No cookie, an unsigned or tampered one: no session to look for (NO_SESSION).
      if (id === undefined) return next();
      const key = sessionKey(id);
      const settle: Settle = (outcome) => {
        if (outcome instanceof Error) return next(outcome);
        if (outcome === 'live') live.set(req, key);
        next();
      };
      batches.add(key, settle);
    },
    keyOf: (req) => live.get(req),
    close() {
      closed = true;
      // A running batch refuses the rest when its statement returns.
      batches.close();
    },
  };
}

/**
 * One cookie's value from a Cookie header, as the `cookie` package (express-session's parser)
 * reads it: the first pair of that name, blanks and surrounding quotes removed, URL-decoded
 * when it holds a `%` (left as it is when that fails).
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || trimBlanks(pair.slice(0, eq)) !== name) continue;
    let value = trimBlanks(pair.slice(eq + 1));
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!value.includes('%')) return value;
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return undefined;
}

/** Spaces and tabs only, as the cookie package trims. */
const trimBlanks = (text: string): string => text.replace(/^[ \t]+|[ \t]+$/g, '');
