import session, { type SessionData } from 'express-session';
import type { Pool } from '../db/pool.ts';
import { AppError } from '../errors.ts';
import { sessionFlashesSql, presentFlash, type FlashRow } from './flash.ts';
import { newSessionId, sessionKey } from './session-key.ts';

/**
 * A stored session is extended only once it has aged past this fraction of the TTL since its
 * expiry was last written. A visitor who only reads pages then costs one UPDATE per
 * tenth of the TTL (2.4 h with the default day) instead of one per request, and the idle
 * lifetime stays between 90% and 100% of SESSION_TTL_SECONDS.
 */
export const REFRESH_FRACTION = 0.1;

/**
 * A new session's stored lifetime until its visitor comes back (a second request with the
 * cookie) or opens a socket; then it gets the full TTL. A client that never sends its cookie
 * back (a flood of cookieless page views, a crawler) leaves rows that cleanup removes within
 * minutes, not a day. Capped at the part of the TTL that is always due for refresh, so the
 * first return always extends it.
 */
export const SESSION_TRIAL_SECONDS = 600;

/** Called after a session was destroyed through the store (logout, regenerate, clear). */
export type SessionEndedListener = (key: string) => void;

type Callback<T = void> = (error?: unknown, value?: T | null) => void;

/** express-session hands the store its Session object, which knows the request it belongs to. */
interface SessionWithRequest {
  req?: object;
  cookie?: { expires?: Date | string | null };
  [field: string]: unknown;
}

/** What this store knows about the session a request holds. */
interface Held {
  /** The cookie's session id (not the key): a regenerated session is another one. */
  sid: string;
  /** From the load: whether the stored expiry is due for extension (REFRESH_FRACTION). */
  refreshDue: boolean;
  /** Set when this request inserted the session: its expiry until the visitor comes back. */
  trialExpiry?: Date;
}

export interface SessionStoreOptions {
  pool: Pool;
  /** SESSION_TTL_SECONDS: a session's idle lifetime once its visitor came back. */
  ttlSeconds: number;
  /** A new session's lifetime until its visitor comes back; default SESSION_TRIAL_SECONDS. */
  trialSeconds?: number;
  /** connect-pg-simple's option of that name: `touch` writes nothing, only saves extend a session. */
  disableTouch?: boolean;
}

/**
 * The statement behind a save of a session this request held (loaded it, or saved it
 * already) that no longer exists: someone destroyed it meanwhile (a logout in another tab,
 * ops, cleanup, expiry). The store does not bring it back, and says so.
 */
export class SessionGoneError extends AppError {
  constructor() {
    super(
      'SESSION_GONE',
      'The session was destroyed (logout, cleanup or expiry) while this request held it, so it was not saved again; ' +
        'call req.session.regenerate() to start a new session if the data must be kept.',
    );
  }
}

/**
 * express-session's store over the `session` table: a general store in the way the
 * express-session README describes one (get, set as an upsert, destroy, touch, all, length,
 * clear; errors reach the callbacks, which run on their own tick, outside our promise chains),
 * with the guarantees flashcast depends on:
 *
 * - rows are keyed by `sessionKey(id)`, never the id itself;
 * - `sess.flash` is read from the flashes table and never written back, so a request save
 *   never erases a flash written after the request loaded the session;
 * - a save of a session the request held (loaded it, or saved it already) is an UPDATE only: a
 *   session destroyed while the request ran stays destroyed, and the save calls back with
 *   SessionGoneError. Any other save (a new session, whatever its `genid`; a direct
 *   `store.set` of an unknown id) inserts or updates;
 * - touch writes only when the expiry has aged past REFRESH_FRACTION of the TTL, so a
 *   read-only request writes nothing; a touch on its own (no load by this request) is one
 *   conditional UPDATE that applies the same rule in SQL;
 * - a new session of a request is inserted on a trial lifetime (SESSION_TRIAL_SECONDS), which
 *   its visitor's first return extends to the full TTL;
 * - a new session whose cookie is not sent (`neverInsert`) is never inserted.
 */
export class SessionStore extends session.Store {
  readonly #pool: Pool;
  readonly #ttlMs: number;
  readonly #trialMs: number;
  readonly #disableTouch: boolean;
  /** Per request (express-session's `req`, or the one `store.load` makes): the session it holds. */
  readonly #held = new WeakMap<object, Held>();
  /** Objects `get` returned, until express-session turns one into a request's session (createSession). */
  readonly #loaded = new WeakMap<object, { refreshDue: boolean }>();
  /** Requests whose new session must not be inserted: their cookie is not sent (see neverInsert). */
  readonly #neverInsert = new WeakSet<object>();
  readonly #endedListeners: SessionEndedListener[] = [];

  constructor(options: SessionStoreOptions) {
    super();
    this.#pool = options.pool;
    this.#ttlMs = options.ttlSeconds * 1000;
    this.#trialMs = Math.min((options.trialSeconds ?? SESSION_TRIAL_SECONDS) * 1000, this.#ttlMs * (1 - REFRESH_FRACTION));
    this.#disableTouch = options.disableTouch ?? false;
  }

  /** SESSION_TTL_SECONDS: a session's idle lifetime once its visitor came back. */
  get ttlSeconds(): number {
    return this.#ttlMs / 1000;
  }

  /** A new session's stored lifetime until its visitor comes back or opens a socket. */
  get trialSeconds(): number {
    return this.#trialMs / 1000;
  }

  /** A `genid` for express-session (192 random bits). The store works with any other as well. */
  readonly generateId = (_req?: object): string => newSessionId();

  /** True while the request's session `sessionId` is not known to be stored (new, or never inserted). */
  isUnsaved(req: object, sessionId: string): boolean {
    return this.#held.get(req)?.sid !== sessionId;
  }

  /**
   * The new session of this request is never inserted (its saves succeed and write nothing),
   * so it stays unsaved: the request's cookie will not reach the client (a Secure cookie over
   * plain HTTP), and a row that nobody can present would only wait for cleanup.
   */
  neverInsert(req: object): void {
    this.#neverInsert.add(req);
  }

  onSessionEnded(listener: SessionEndedListener): void {
    this.#endedListeners.push(listener);
  }

  /** express-session turns a loaded session into the request's: from here its saves are UPDATEs. */
  override createSession(req: Parameters<session.Store['createSession']>[0], sess: SessionData) {
    const loaded = this.#loaded.get(sess);
    if (loaded) this.#held.set(req, { sid: req.sessionID, refreshDue: loaded.refreshDue });
    return super.createSession(req, sess);
  }

  override get(sid: string, callback: Callback<SessionData>): void {
    const key = sessionKey(sid);
    this.#pool
      .query<{ sess: SessionData; refresh_due: boolean; flash: FlashRow[]; now_ms: string }>({
        // Named, so each connection plans it once: this runs on every request with a cookie,
        // and planning the correlated subquery cost more than executing it (bench/flash-storage).
        name: 'flashcast-session-get',
        // One round trip: the session, whether its expiry is due for extension, its flashes,
        // and the database's time, on which a countdown flash's seconds are counted (its
        // deadline is on that clock, whatever this machine's says).
        text: `SELECT s.sess,
                s.expire < now() + make_interval(secs => $2) AS refresh_due,
                ${sessionFlashesSql} AS flash,
                (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms
           FROM session s
          WHERE s.sid = $1 AND s.expire > now()`,
        values: [key, this.#refreshAgeSeconds()],
      })
      .then(
        ({ rows: [row] }) => {
          if (!row) {
            later(callback, null, null);
            return;
          }
          const now = Number(row.now_ms);
          const data = { ...row.sess, flash: row.flash.map((flash) => presentFlash(flash, now)) } as SessionData;
          this.#loaded.set(data, { refreshDue: row.refresh_due });
          later(callback, null, data);
        },
        (error: unknown) => later(callback, error),
      );
  }

  override set(sid: string, sess: SessionData, callback?: Callback): void {
    const key = sessionKey(sid);
    const { flash: _presentedOnly, ...data } = sess as unknown as SessionWithRequest;
    const cookieExpiry = this.#expiry(sess as unknown as SessionWithRequest);
    const req = (sess as unknown as SessionWithRequest).req;
    const held = req ? this.#held.get(req) : undefined;
    const stored = held?.sid === sid;
    if (!stored && req && this.#neverInsert.has(req)) {
      later(callback);
      return;
    }

    if (stored) {
      // A session the request held: update it if it still exists, never re-create it. A
      // session it inserted keeps its trial expiry for the rest of the request.
      this.#pool.query('UPDATE session SET sess = $2, expire = $3 WHERE sid = $1', [key, data, held.trialExpiry ?? cookieExpiry]).then(
        ({ rowCount }) => {
          held.refreshDue = false;
          later(callback, rowCount === 0 ? new SessionGoneError() : undefined);
        },
        (error: unknown) => later(callback, error),
      );
      return;
    }
    // A session no request of this store has seen stored: a new one (whatever its genid), or a
    // direct `store.set`. A request's new session starts on its trial lifetime; a direct set
    // (an import, a test) gets the cookie's expiry.
    const expire = req ? new Date(Math.min(cookieExpiry.getTime(), Date.now() + this.#trialMs)) : cookieExpiry;
    this.#pool
      .query(
        `INSERT INTO session (sid, sess, expire) VALUES ($1, $2, $3)
         ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire`,
        [key, data, expire],
      )
      .then(
        () => {
          if (req) this.#held.set(req, { sid, refreshDue: false, trialExpiry: expire });
          later(callback);
        },
        (error: unknown) => later(callback, error),
      );
  }

  override touch(sid: string, sess: SessionData, callback?: (error?: unknown) => void): void {
    const req = (sess as unknown as SessionWithRequest).req;
    const held = req ? this.#held.get(req) : undefined;
    // Known not due (this request's load said so): nothing to write, no statement.
    if (this.#disableTouch || (held?.sid === sid && !held.refreshDue)) {
      later(callback);
      return;
    }
    this.#pool
      .query(
        // The refresh rule in SQL, for a touch whose load this store did not see: a row whose
        // expiry is still fresh is left alone, and an expired or destroyed one is not revived.
        `UPDATE session SET expire = $2
          WHERE sid = $1 AND expire > now() AND expire < now() + make_interval(secs => $3)`,
        [sessionKey(sid), this.#expiry(sess as unknown as SessionWithRequest), this.#refreshAgeSeconds()],
      )
      .then(
        () => {
          if (held?.sid === sid) held.refreshDue = false;
          later(callback);
        },
        (error: unknown) => later(callback, error),
      );
  }

  override destroy(sid: string, callback?: Callback): void {
    const key = sessionKey(sid);
    this.#pool.query('DELETE FROM session WHERE sid = $1', [key]).then(
      () => {
        for (const listener of this.#endedListeners) listener(key);
        later(callback);
      },
      (error: unknown) => later(callback, error),
    );
  }

  /**
   * Every live session's data, with its flashes, as express-session's README describes `all`:
   * an array, read at once (it is meant for tools and tests, not for a million sessions). Stored
   * keys are hashes, so the cookie ids cannot be given back.
   */
  override all(callback: (error: unknown, sessions?: SessionData[] | null) => void): void {
    this.#pool
      .query<{ sess: SessionData; flash: FlashRow[]; now_ms: string }>(
        `SELECT s.sess, ${sessionFlashesSql} AS flash,
                (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS now_ms
           FROM session s WHERE s.expire > now() ORDER BY s.sid`,
      )
      .then(
        ({ rows }) =>
          later(
            callback,
            null,
            rows.map((row) => ({ ...row.sess, flash: row.flash.map((flash) => presentFlash(flash, Number(row.now_ms))) }) as SessionData),
          ),
        (error: unknown) => later(callback, error),
      );
  }

  /** How many live (unexpired) sessions there are. */
  override length(callback: (error: unknown, length?: number) => void): void {
    this.#pool.query<{ count: string }>('SELECT count(*) FROM session WHERE expire > now()').then(
      ({ rows }) => later(callback, null, Number(rows[0]!.count)),
      (error: unknown) => later(callback, error),
    );
  }

  /** Deletes every session, and (ON DELETE CASCADE) everything they own; their sockets are told as for destroy. */
  override clear(callback?: (error?: unknown) => void): void {
    this.#pool.query<{ sid: string }>('DELETE FROM session RETURNING sid').then(
      ({ rows }) => {
        for (const { sid } of rows) for (const listener of this.#endedListeners) listener(sid);
        later(callback);
      },
      (error: unknown) => later(callback, error),
    );
  }

  #refreshAgeSeconds(): number {
    return (this.#ttlMs * (1 - REFRESH_FRACTION)) / 1000;
  }

  #expiry(sess: SessionWithRequest): Date {
    const expires = sess.cookie?.expires;
    if (expires) return new Date(expires);
    return new Date(Date.now() + this.#ttlMs);
  }
}

/**
 * Calls a store callback on its own tick, outside the promise chain that produced its
 * result: an exception the callback throws is then the caller's ordinary exception, as with
 * connect-pg-simple, not an unhandled rejection attributed to the store.
 */
// biome-ignore lint/suspicious/noExplicitAny: store callbacks of every shape (error, value) pass through here
function later(callback: ((...args: any[]) => void) | undefined, ...args: unknown[]): void {
  if (callback) process.nextTick(callback, ...args);
}
