import type { PromotionEvent } from '../../protocol/events.ts';
import type { Pool } from '../db/pool.ts';
import { validationFailed } from '../errors.ts';
import { promotionEventSchema } from '../../protocol/promotion-event-schema.ts';
import type { CreatePromotionInput, UpdatePromotionInput } from '../../protocol/ops-schemas.ts';

/** A promotion as the ops API shows it. Absent optional fields are null. */
export interface Promotion {
  id: number;
  name: string;
  callToAction: string;
  url: string | null;
  active: boolean;
  startsAt: string | null;
  endsAt: string | null;
  weight: number;
  createdAt: string;
  updatedAt: string;
}

export interface PromotionStats {
  delivered: number;
  displayed: number;
  clicked: number;
  dismissed: number;
}

interface PromotionRow {
  id: number;
  name: string;
  call_to_action: string;
  url: string | null;
  active: boolean;
  starts_at: Date | null;
  ends_at: Date | null;
  weight: number;
  created_at: Date;
  updated_at: Date;
}

const columns = 'id, name, call_to_action, url, active, starts_at, ends_at, weight, created_at, updated_at';

/** Input field → column, for the PATCH's SET list (the only names that reach the SQL text). */
const columnOf = {
  name: 'name',
  callToAction: 'call_to_action',
  url: 'url',
  active: 'active',
  startsAt: 'starts_at',
  endsAt: 'ends_at',
  weight: 'weight',
} as const satisfies Record<keyof UpdatePromotionInput, string>;

const CHECK_VIOLATION = '23514';

function toPromotion(row: PromotionRow): Promotion {
  return {
    id: row.id,
    name: row.name,
    callToAction: row.call_to_action,
    url: row.url,
    active: row.active,
    startsAt: row.starts_at?.toISOString() ?? null,
    endsAt: row.ends_at?.toISOString() ?? null,
    weight: row.weight,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** A PATCH that leaves the window reversed fails the table's CHECK; say which field to fix. */
function windowError(error: unknown): never {
  const pg = error as { code?: string; constraint?: string };
  if (pg.code === CHECK_VIOLATION && pg.constraint === 'promotions_window_order') {
    throw validationFailed('endsAt: must be after startsAt');
  }
  throw error;
}

/** The promotions repository: ops' CRUD, their totals, and the widget's events. */
export function createPromotions(deps: { pool: Pool }) {
  const { pool } = deps;

  /**
   * Records widget events in one statement (the socket layer batches them, see
   * promotion-events.ts), and resolves with how many were counted. Each is counted once per
   * session, promotion and action, whatever the number of tabs or repeats: a delivery's
   * timestamp is set only while still NULL, and the total moves only when it was. A click
   * counts only once the banner was displayed to that session (before, or in the same
   * batch): a click that no display preceded is not a visitor's. Events for promotions this
   * session was never given, and malformed events, are ignored.
   */
  async function recordEvents(events: ReadonlyArray<{ sessionKey: string; event: PromotionEvent }>): Promise<number> {
    const valid = events.filter(({ event }) => promotionEventSchema.safeParse(event).success);
    if (valid.length === 0) return 0;
    const { rows } = await pool.query<{ counted: number }>(
      `WITH wanted AS (
         SELECT session_sid, promotion_id,
                bool_or(action = 'displayed') AS displayed,
                bool_or(action = 'clicked') AS clicked,
                bool_or(action = 'dismissed') AS dismissed
           FROM unnest($1::text[], $2::int[], $3::text[]) AS e(session_sid, promotion_id, action)
          GROUP BY session_sid, promotion_id
       ), changes AS (
         -- What each delivery gains, read under a row lock so that two batches (two web
         -- processes) that carry the same event count it once: the second waits and then
         -- sees the first one's timestamps. Locked in key order, so they cannot deadlock.
         SELECT d.session_sid, d.promotion_id,
                w.displayed AND d.displayed_at IS NULL AS displayed,
                w.clicked AND d.clicked_at IS NULL AND (d.displayed_at IS NOT NULL OR w.displayed) AS clicked,
                w.dismissed AND d.dismissed_at IS NULL AS dismissed
           FROM promotion_deliveries d
           JOIN wanted w USING (session_sid, promotion_id)
          ORDER BY d.session_sid, d.promotion_id
            FOR UPDATE OF d
       ), marked AS (
         UPDATE promotion_deliveries d
            SET displayed_at = CASE WHEN c.displayed THEN now() ELSE d.displayed_at END,
                clicked_at = CASE WHEN c.clicked THEN now() ELSE d.clicked_at END,
                dismissed_at = CASE WHEN c.dismissed THEN now() ELSE d.dismissed_at END
           FROM changes c
          WHERE d.session_sid = c.session_sid AND d.promotion_id = c.promotion_id
            AND (c.displayed OR c.clicked OR c.dismissed)
         RETURNING c.promotion_id, c.displayed, c.clicked, c.dismissed
       ), totals AS (
         SELECT promotion_id,
                count(*) FILTER (WHERE displayed) AS displayed,
                count(*) FILTER (WHERE clicked) AS clicked,
                count(*) FILTER (WHERE dismissed) AS dismissed
           FROM marked GROUP BY promotion_id
       ), counted AS (
         UPDATE promotion_stats s
            SET displayed = s.displayed + t.displayed,
                clicked = s.clicked + t.clicked,
                dismissed = s.dismissed + t.dismissed
           FROM totals t WHERE s.promotion_id = t.promotion_id
         RETURNING t.displayed + t.clicked + t.dismissed AS n
       )
       SELECT coalesce(sum(n), 0)::int AS counted FROM counted`,
      [valid.map((e) => e.sessionKey), valid.map((e) => e.event.promotionId), valid.map((e) => e.event.action)],
    );
    return rows[0]?.counted ?? 0;
  }

  return {
    async list(): Promise<Promotion[]> {
      const { rows } = await pool.query<PromotionRow>(`SELECT ${columns} FROM promotions ORDER BY id`);
      return rows.map(toPromotion);
    },

    async find(id: number): Promise<Promotion | undefined> {
      const { rows } = await pool.query<PromotionRow>(`SELECT ${columns} FROM promotions WHERE id = $1`, [id]);
      return rows[0] && toPromotion(rows[0]);
    },

    /** Creates the promotion and its zeroed totals in one statement. */
    async create(input: CreatePromotionInput): Promise<Promotion> {
      const { rows } = await pool.query<PromotionRow>(
        `WITH created AS (
           INSERT INTO promotions (name, call_to_action, url, active, starts_at, ends_at, weight)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           RETURNING ${columns}
         ), stats AS (
           INSERT INTO promotion_stats (promotion_id) SELECT id FROM created
         )
         SELECT * FROM created`,
        [input.name, input.callToAction, input.url ?? null, input.active, input.startsAt ?? null, input.endsAt ?? null, input.weight],
      );
      return toPromotion(rows[0]!);
    },

    async update(id: number, patch: UpdatePromotionInput): Promise<Promotion | undefined> {
      const entries = (Object.keys(columnOf) as Array<keyof UpdatePromotionInput>).filter((field) => patch[field] !== undefined);
      const set = entries.map((field, index) => `${columnOf[field]} = $${index + 2}`);
      const { rows } = await pool
        .query<PromotionRow>(`UPDATE promotions SET ${[...set, 'updated_at = now()'].join(', ')} WHERE id = $1 RETURNING ${columns}`, [
          id,
          ...entries.map((field) => patch[field]),
        ])
        .catch(windowError);
      return rows[0] && toPromotion(rows[0]);
    },

    /** Deletes it with its deliveries and totals (ON DELETE CASCADE). */
    async remove(id: number): Promise<boolean> {
      const { rowCount } = await pool.query('DELETE FROM promotions WHERE id = $1', [id]);
      return (rowCount ?? 0) > 0;
    },

    async stats(id: number): Promise<PromotionStats | undefined> {
      const { rows } = await pool.query<Record<keyof PromotionStats, string>>(
        'SELECT delivered, displayed, clicked, dismissed FROM promotion_stats WHERE promotion_id = $1',
        [id],
      );
      const row = rows[0];
      if (!row) return undefined;
      return {
        delivered: Number(row.delivered),
        displayed: Number(row.displayed),
        clicked: Number(row.clicked),
        dismissed: Number(row.dismissed),
      };
    },

    /**
     * What the visitor did with a promotion banner, from the widget. Resolves true when the
     * event was counted. See recordEvents.
     */
    async recordEvent(sessionKey: string, event: PromotionEvent): Promise<boolean> {
      return (await recordEvents([{ sessionKey, event }])) > 0;
    },

    recordEvents,
  };
}

export type Promotions = ReturnType<typeof createPromotions>;
