import type { Pool } from '../db/pool.ts';
import { hashToken, newSessionId } from './tokens.ts';

/** Signed in and idle this long, the console asks for the token again. */
export const DEFAULT_OPS_IDLE_SECONDS = 30 * 60;
/** However busy, a console session ends after this long: a stolen cookie does not live forever. */
export const OPS_SESSION_MAX_AGE_SECONDS = 12 * 60 * 60;

export interface OpsSessions {
  /**
   * Starts a session for the credential that signed in and returns the cookie's new id. The
   * session the request came with, if any, ends: every sign-in gets a fresh id (no fixation).
   */
  start(credential: Buffer, actor: string, previousId?: string): Promise<string>;
  /** The credential hash behind a live session, its idle timeout pushed back; undefined when ended. */
  resume(id: string): Promise<Buffer | undefined>;
  end(id: string): Promise<boolean>;
}

export function createOpsSessions(deps: { pool: Pool; idleSeconds?: number; maxAgeSeconds?: number }): OpsSessions {
  const { pool } = deps;
  const idle = deps.idleSeconds ?? DEFAULT_OPS_IDLE_SECONDS;
  const maxAge = deps.maxAgeSeconds ?? OPS_SESSION_MAX_AGE_SECONDS;
  return {
    async start(credential, actor, previousId) {
      const id = newSessionId();
      // Ended sessions are swept here, at sign-in: the table holds a handful of operators'
      // rows, so this costs nothing and no job (least of all the visitor cleanup) is needed.
      await pool.query(
        `WITH swept AS (DELETE FROM ops_sessions WHERE expires_at <= now() OR id_hash = $4)
         INSERT INTO ops_sessions (id_hash, credential, actor, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(secs => $5))`,
        [hashToken(id), credential, actor, previousId ? hashToken(previousId) : null, idle],
      );
      return id;
    },

    async resume(id) {
      const { rows } = await pool.query<{ credential: Buffer }>(
        `UPDATE ops_sessions SET expires_at = least(now() + make_interval(secs => $2), created_at + make_interval(secs => $3))
          WHERE id_hash = $1 AND expires_at > now()
          RETURNING credential`,
        [hashToken(id), idle, maxAge],
      );
      return rows[0]?.credential;
    },

    async end(id) {
      const { rowCount } = await pool.query('DELETE FROM ops_sessions WHERE id_hash = $1', [hashToken(id)]);
      return (rowCount ?? 0) > 0;
    },
  };
}
