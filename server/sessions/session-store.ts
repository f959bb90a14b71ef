import session, { type SessionData } from 'express-session';
import connectPgSimple from 'connect-pg-simple';
import type { Pool } from '../db/pool.ts';
import { sessionFlashesSql, presentFlash, type FlashRow } from './flash.ts';
import { newSessionId, sessionKey } from './session-key.ts';

const PGStore = connectPgSimple(session);

/**
 * A stored session is extended only once it has aged past this fraction of the TTL since its
 * expiry was last written. A visitor who only reads pages then costs one UPDATE per
 * tenth of the TTL (2.4 h with the default day) instead of one per request, and the idle
 * lifetime stays between 90% and 100% of SESSION_TTL_SECONDS.
 */
export const REFRESH_FRACTION = 0.1;

const MAX_PENDING_REFRESHES = 100_000;

/** Called after a session was destroyed through the store (logout, regenerate). */
export type SessionEndedListener = (key: string) => void;

type Callback<T = void> = (error?: unknown, value?: T | null) => void;

/** express-session hands the store its Session object, which knows the request it belongs to. */
interface SessionWithRequest {
  req?: object;
  cookie?: { expires?: Date | string | null };
  [field: string]: unknown;
}

/**
 * express-session's store over the `session` table, built on connect-pg-simple (its prune
 * timer off: cleanup is a job) with the differences flashcast depends on:
 *
 * - rows are keyed by `sessionKey(id)`, never the id itself;
 * - `sess.flash` is read from the flashes table and never written back, so a request save
 *   never erases a flash written after the request loaded the session;
 * - a save of a session this request did not create is an UPDATE only: a session destroyed
 *   while the request ran (logout elsewhere, cleanup) stays destroyed;
 * - touch writes only when the expiry has aged past REFRESH_FRACTION of the TTL, so a
 *   read-only request writes nothing.
 */
export class SessionStore extends PGStore {
  readonly #pool: Pool;
  readonly #ttlMs: number;
  /** Requests whose session was generated here and not inserted yet, with its id. */
  readonly #unsaved = new WeakMap<object, string>();
  /** Keys loaded by `get` whose expiry is due for extension at the end of the request. */
  readonly #dueForRefresh = new Set<string>();
  readonly #endedListeners: SessionEndedListener[] = [];

  constructor(options: { pool: Pool; ttlSeconds: number }) {
    super({ pool: options.pool, tableName: 'session', pruneSessionInterval: false, ttl: options.ttlSeconds });
    this.#pool = options.pool;
    this.#ttlMs = options.ttlSeconds * 1000;
  }

  /** express-session's `genid`: remembers that this request's session is new. */
  readonly generateId = (req: object): string => {
    const id = newSessionId();
    this.#unsaved.set(req, id);
    return id;
  };

  /** True until the session a request created has been inserted. */
  isUnsaved(req: object, sessionId: string): boolean {
    return this.#unsaved.get(req) === sessionId;
  }

  onSessionEnded(listener: SessionEndedListener): void {
    this.#endedListeners.push(listener);
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
        values: [key, (this.#ttlMs * (1 - REFRESH_FRACTION)) / 1000],
      })
      .then(({ rows: [row] }) => {
        if (!row) return callback(null, null);
        if (row.refresh_due) {
          // A request that loads but never ends (a dropped connection) leaves its key here;
          // forgetting them all at a bound costs at most one skipped refresh each.
          if (this.#dueForRefresh.size >= MAX_PENDING_REFRESHES) this.#dueForRefresh.clear();
          this.#dueForRefresh.add(key);
        }
        const now = Number(row.now_ms);
        callback(null, { ...row.sess, flash: row.flash.map((flash) => presentFlash(flash, now)) } as SessionData);
      }, callback);
  }

  override set(sid: string, sess: SessionData, callback?: Callback): void {
    const key = sessionKey(sid);
    const { flash: _presentedOnly, ...data } = sess as unknown as SessionWithRequest;
    const expire = this.#expiry(sess as unknown as SessionWithRequest);
    const req = (sess as unknown as SessionWithRequest).req;
    const isNew = req !== undefined && this.isUnsaved(req, sid);
    this.#dueForRefresh.delete(key);
    const query = isNew
      ? // A session this request generated: its key is fresh, so an insert cannot clobber anyone.
        `INSERT INTO session (sid, sess, expire) VALUES ($1, $2, $3)
         ON CONFLICT (sid) DO UPDATE SET sess = EXCLUDED.sess, expire = EXCLUDED.expire`
      : // A session loaded earlier: update it if it still exists, never re-create it.
        `UPDATE session SET sess = $2, expire = $3 WHERE sid = $1`;
    this.#pool.query(query, [key, data, expire]).then(() => {
      if (isNew && req) this.#unsaved.delete(req);
      callback?.();
    }, (error: unknown) => callback?.(error));
  }

  override touch(sid: string, sess: SessionData, callback?: () => void): void {
    const key = sessionKey(sid);
    if (!this.#dueForRefresh.delete(key)) {
      callback?.();
      return;
    }
    this.#pool
      .query('UPDATE session SET expire = $2 WHERE sid = $1', [key, this.#expiry(sess as unknown as SessionWithRequest)])
      .then(() => callback?.(), () => callback?.());
  }

  override destroy(sid: string, callback?: Callback): void {
    const key = sessionKey(sid);
    this.#dueForRefresh.delete(key);
    this.#pool.query('DELETE FROM session WHERE sid = $1', [key]).then(() => {
      for (const listener of this.#endedListeners) listener(key);
      callback?.();
    }, (error: unknown) => callback?.(error));
  }

  #expiry(sess: SessionWithRequest): Date {
    const expires = sess.cookie?.expires;
    if (expires) return new Date(expires);
    return new Date(Date.now() + this.#ttlMs);
  }
}
