import type { Flash } from '../../protocol/events.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import type { RoomEmitter } from '../realtime/push.ts';
import { sessionRoom } from '../realtime/rooms.ts';
import { activeSessionKeysSql } from '../sessions/active-sessions.ts';
import { presentFlash } from '../sessions/flash.ts';
import { withTransaction } from '../db/transaction.ts';

/**
 * The promotion round, as the promotions domain runs it: for every active visitor, one
 * eligible promotion it has not been given, written as its `promotion` flash and pushed.
 * The Agenda job (jobs/promotion-round.ts) only schedules it.
 */

/** The flash key a promotion is written under: a newer promotion replaces the older one. */
export const PROMOTION_FLASH_KEY = 'promotion';

export interface PromotionRoundResult {
  /** Sessions that were given a promotion this round. */
  sessions: number;
  /** How many sessions got each promotion, by promotion id. */
  promotions: Record<string, number>;
  /** Set when the round did nothing because another round was running at that moment. */
  skipped?: string;
}

/**
 * Rounds serialize on this transaction-level advisory lock. The deliveries' primary key
 * alone stops a promotion from reaching a session twice, but two rounds racing could still
 * give one session two *different* promotions at once; a round that finds another running
 * skips instead (the next scheduled round comes soon, and running right after the other
 * would be a second round, not this one).
 *
 * Same statement, no extra round trip: JIT off for this transaction. The round's estimated
 * cost passes jit_above_cost on a server built with LLVM, and compiling its plan would cost
 * more than the round saves by it.
 */
const ROUND_LOCK_SQL = `
  SELECT set_config('jit', 'off', true) AS jit,
         pg_try_advisory_xact_lock(hashtext('flashcast:promotion-round')) AS locked`;

/** Which promotions a round may offer now. */
const ELIGIBLE = `active AND (starts_at IS NULL OR starts_at <= now()) AND (ends_at IS NULL OR ends_at > now())`;

/**
 * One round, one statement, however many visitors are active. Its cost is a few row writes
 * per visitor (a delivery, a flash), so the choice of each visitor's promotion must not cost
 * more than that; it is made in two steps:
 *
 * 1. Optimistic tries. Each active, live session draws up to three promotions from the
 *    weighted distribution of all eligible ones (inverse CDF: `width_bucket` over the
 *    cumulative weights, one function call a draw). The first try is inserted as its
 *    delivery; the primary key (session, promotion) rejects one it was already given (ON
 *    CONFLICT DO NOTHING costs one index probe), and only then is the second try inserted,
 *    then the third. That is rejection sampling, so a success is distributed exactly as a
 *    weighted draw among the promotions the session has not been given; and a first round
 *    reads nothing about past deliveries at all.
 * 2. Exact fallback, for the few sessions whose three tries were all taken (most of their
 *    weight is already given): their past deliveries are read (one index range scan each)
 *    and one of the rest is drawn by weight with the exponential race (each candidate's key
 *    is -ln(U)/weight, the smallest wins with probability weight/sum). Nothing is left for a
 *    session that was given everything: it gets no row, and no flash.
 *
 * Then, in the same statement: the `promotion` flash of exactly the sessions whose delivery
 * was inserted (one flash id per promotion and round, so one emit per promotion carries it),
 * and the per-promotion totals. A delivery is recorded if and only if its flash is written.
 * Rows are inserted in session-key order, as sessions.writeFlash does, so a round and an ops
 * broadcast lock flash rows in one order and cannot deadlock.
 *
 * Later inserts see the rows of earlier ones through the unique index, within the statement,
 * so a retry never duplicates a try; the plain reads (the fallback's) see the statement's
 * snapshot, which is right for exactly the sessions that reach them: none of their tries
 * was inserted.
 */
export const PROMOTION_ROUND_SQL = `
  WITH eligible AS MATERIALIZED (
    SELECT id, weight FROM promotions WHERE ${ELIGIBLE}
  ), distribution AS MATERIALIZED (
    -- Lower bounds of each promotion's slice of [0, total): ascending, as width_bucket needs.
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(lower_bound ORDER BY id) AS bounds, sum(weight) AS total
      FROM (SELECT id, weight, sum(weight) OVER (ORDER BY id) - weight AS lower_bound FROM eligible) slices
    HAVING count(*) > 0
  ), drawn AS MATERIALIZED (
    SELECT s.sid,
           w.ids[width_bucket(random() * w.total, w.bounds)] AS try1,
           w.ids[width_bucket(random() * w.total, w.bounds)] AS try2,
           w.ids[width_bucket(random() * w.total, w.bounds)] AS try3
      FROM (${activeSessionKeysSql}) a
      JOIN session s ON s.sid = a.session_sid
     CROSS JOIN distribution w
     WHERE s.expire > now()
    -- The sessions are locked first, so that one being deleted (logout, cleanup) cannot
    -- deadlock with the round: the delete holds its session and waits for the session's
    -- flash rows, and without this the round would hold a flash row and then wait for that
    -- session in its foreign-key check. Sessions being deleted right now are skipped; a
    -- delete that comes later waits for the round. KEY SHARE does not block request saves.
       FOR KEY SHARE OF s SKIP LOCKED
  ), given1 AS (
    INSERT INTO promotion_deliveries (session_sid, promotion_id)
    SELECT sid, try1 FROM drawn ORDER BY sid
    ON CONFLICT DO NOTHING
    RETURNING session_sid, promotion_id
  ), given2 AS (
    INSERT INTO promotion_deliveries (session_sid, promotion_id)
    SELECT sid, try2 FROM drawn d
     WHERE d.sid NOT IN (SELECT session_sid FROM given1)
     ORDER BY sid
    ON CONFLICT DO NOTHING
    RETURNING session_sid, promotion_id
  ), given3 AS (
    INSERT INTO promotion_deliveries (session_sid, promotion_id)
    SELECT sid, try3 FROM drawn d
     WHERE d.sid NOT IN (SELECT session_sid FROM given1)
       AND d.sid NOT IN (SELECT session_sid FROM given2)
     ORDER BY sid
    ON CONFLICT DO NOTHING
    RETURNING session_sid, promotion_id
  ), given4 AS (
    INSERT INTO promotion_deliveries (session_sid, promotion_id)
    SELECT d.sid, pick.id FROM drawn d
     CROSS JOIN LATERAL (
       SELECT e.id
         -- Inside this subquery on purpose: its only outer reference is d.sid, unique per
         -- row, so the planner cannot reuse one draw for several sessions (it would, with a
         -- Memoize node keyed on a shared given-list, random() notwithstanding).
         FROM (SELECT array_agg(p.promotion_id) AS ids FROM promotion_deliveries p WHERE p.session_sid = d.sid) given,
              eligible e
        WHERE e.id <> ALL (COALESCE(given.ids, '{}'))
        ORDER BY -ln(1 - random()) / e.weight  -- 1 - random() is in (0, 1]: ln never sees 0
        LIMIT 1
     ) pick
     WHERE d.sid NOT IN (SELECT session_sid FROM given1)
       AND d.sid NOT IN (SELECT session_sid FROM given2)
       AND d.sid NOT IN (SELECT session_sid FROM given3)
     ORDER BY d.sid
    ON CONFLICT DO NOTHING
    RETURNING session_sid, promotion_id
  ), delivered AS (
    SELECT * FROM given1 UNION ALL SELECT * FROM given2 UNION ALL SELECT * FROM given3 UNION ALL SELECT * FROM given4
  ), round AS MATERIALIZED (
    SELECT d.promotion_id, gen_random_uuid() AS flash_id, count(*) AS sessions,
           p.call_to_action AS message,
           jsonb_strip_nulls(jsonb_build_object('promotionId', p.id, 'url', p.url)) AS data
      FROM delivered d JOIN promotions p ON p.id = d.promotion_id
     GROUP BY d.promotion_id, p.id
  ), flashed AS (
    INSERT INTO flashes (session_sid, key, id, message, data)
    SELECT d.session_sid, '${PROMOTION_FLASH_KEY}', r.flash_id, r.message, r.data
      FROM delivered d JOIN round r USING (promotion_id)
     ORDER BY d.session_sid
    ON CONFLICT (session_sid, key)
    DO UPDATE SET id = EXCLUDED.id, message = EXCLUDED.message, data = EXCLUDED.data, created_at = now()
  ), counted AS (
    UPDATE promotion_stats s SET delivered = s.delivered + r.sessions
      FROM round r WHERE s.promotion_id = r.promotion_id
  )
  SELECT r.promotion_id, r.flash_id, r.message, r.data, now() AS created_at,
         array_agg(d.session_sid) AS sessions
    FROM round r JOIN delivered d USING (promotion_id)
   GROUP BY r.promotion_id, r.flash_id, r.message, r.data`;

interface RoundRow {
  promotion_id: number;
  flash_id: string;
  message: string;
  data: Record<string, unknown>;
  created_at: Date;
  sessions: string[];
}

/**
 * Failures that a second attempt gets past: a session that ended between the round's read
 * and its insert, or a lock cycle with another writer. The sessions' locks make both
 * unlikely; if one happens anyway the round runs again rather than waiting a whole interval.
 */
const RETRYABLE = new Set(['23503', '40P01']);
const ATTEMPTS = 3;

export interface PromotionRoundDeps {
  pool: Pool;
  emitter: RoomEmitter;
  logger?: Logger;
}

/**
 * Runs one promotion round: writes, commits, then emits, so a tab that misses the emit
 * still finds the flash on its next load. The emits are one per promotion given this round,
 * each to the rooms of the sessions that got it: a handful per round, not one per visitor.
 */
export async function runPromotionRound(deps: PromotionRoundDeps): Promise<PromotionRoundResult> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const rows = await deliverRound(deps.pool);
      if (rows === undefined) return { sessions: 0, promotions: {}, skipped: 'another promotion round was running' };
      return emitRound(deps, rows);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (!code || !RETRYABLE.has(code) || attempt >= ATTEMPTS) throw error;
      deps.logger?.warn({ err: error, attempt }, 'promotion round failed on a concurrent change; running it again');
    }
  }
}

/** The round's transaction; undefined when another round holds the lock. */
async function deliverRound(pool: Pool): Promise<RoundRow[] | undefined> {
  return withTransaction(pool, async (client) => {
    const { rows: lock } = await client.query<{ locked: boolean }>(ROUND_LOCK_SQL);
    if (!lock[0]?.locked) return undefined;
    const { rows } = await client.query<RoundRow>(PROMOTION_ROUND_SQL);
    return rows;
  });
}

function emitRound(deps: PromotionRoundDeps, rows: RoundRow[]): PromotionRoundResult {
  const result: PromotionRoundResult = { sessions: 0, promotions: {} };
  for (const row of rows) {
    const flash: Flash = presentFlash({
      id: row.flash_id,
      key: PROMOTION_FLASH_KEY,
      message: row.message,
      data: row.data,
      created_at: row.created_at,
    });
    try {
      deps.emitter.to(row.sessions.map(sessionRoom)).emit('flash', flash);
    } catch (error) {
      // Committed already: those visitors find the flash on their next load or reconnect.
      deps.logger?.warn({ err: error, promotionId: row.promotion_id }, 'promotion round could not emit a promotion');
    }
    result.sessions += row.sessions.length;
    result.promotions[String(row.promotion_id)] = row.sessions.length;
  }
  return result;
}
