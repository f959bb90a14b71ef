import type { PromotionEvent } from '../../protocol/events.ts';
import type { Pool } from '../db/pool.ts';
import { validationFailed } from '../errors.ts';
import { promotionEventSchema, type CreatePromotionInput, type UpdatePromotionInput } from './promotion-schema.ts';

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

/** The timestamp column of each widget action: the only names that reach the SQL text. */
const actionColumns = {
  displayed: { at: 'displayed_at', total: 'displayed' },
  clicked: { at: 'clicked_at', total: 'clicked' },
  dismissed: { at: 'dismissed_at', total: 'dismissed' },
} as const satisfies Record<PromotionEvent['action'], { at: string; total: string }>;

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
        .query<PromotionRow>(
          `UPDATE promotions SET ${[...set, 'updated_at = now()'].join(', ')} WHERE id = $1 RETURNING ${columns}`,
          [id, ...entries.map((field) => patch[field])],
        )
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
      return { delivered: Number(row.delivered), displayed: Number(row.displayed), clicked: Number(row.clicked), dismissed: Number(row.dismissed) };
    },

    /**
     * What the visitor did with a promotion banner, from the widget (the socket layer calls
     * this). Counted once per session, promotion and action, whatever the number of tabs or
     * repeats: the delivery's timestamp is set only while still NULL, and the total moves
     * only when it was. Events for promotions this session was never given, and malformed
     * events, are ignored. Resolves true when the event was counted.
     */
    async recordEvent(sessionKey: string, event: PromotionEvent): Promise<boolean> {
      const parsed = promotionEventSchema.safeParse(event);
      if (!parsed.success) return false;
      const { at, total } = actionColumns[parsed.data.action];
      const { rows } = await pool.query<{ counted: number }>(
        `WITH marked AS (
           UPDATE promotion_deliveries SET ${at} = now()
            WHERE session_sid = $1 AND promotion_id = $2 AND ${at} IS NULL
           RETURNING promotion_id
         ), counted AS (
           UPDATE promotion_stats s SET ${total} = s.${total} + 1
             FROM marked m WHERE s.promotion_id = m.promotion_id
           RETURNING s.promotion_id
         )
         SELECT count(*)::int AS counted FROM counted`,
        [sessionKey, parsed.data.promotionId],
      );
      return (rows[0]?.counted ?? 0) > 0;
    },
  };
}

export type Promotions = ReturnType<typeof createPromotions>;
