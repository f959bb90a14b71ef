import { z } from 'zod';
import { fillSeconds, secondsLeft } from '../../common/countdown.ts';
import type { Flash } from '../../protocol/events.ts';

/** Flash ids are UUIDs; anything else cannot name a flash. */
export const flashIdSchema = z.uuid();

/** What a writer asks for; the id is given by the writer so one push shares one id. */
export interface FlashInput {
  key: string;
  message: string;
  data?: Record<string, unknown>;
}

/** A row of the flashes table as SQL returns it (see `sessionFlashesSql`). */
export interface FlashRow {
  id: string;
  key: string;
  message: string;
  data: Record<string, unknown> | null;
  created_at: Date | string;
}

/**
 * The flashes of session `s` as one jsonb array of `FlashRow`s, oldest first: the column every
 * reader of a session (the store's get, the sessions module) selects beside `s`, so they all
 * present the same shape.
 */
export const sessionFlashesSql = `COALESCE((SELECT jsonb_agg(to_jsonb(f) ORDER BY f.created_at)
            FROM (SELECT f.id, f.key, f.message, f.data, f.created_at FROM flashes f WHERE f.session_sid = s.sid) f), '[]')`;

/**
 * A message may hold `{seconds}`, with `data.deadline` (ISO time): it is then shown with the
 * seconds left until the deadline, computed when it is shown, so a page loaded mid-countdown
 * shows the right number rather than the number at write time.
 */
export function renderMessage(message: string, data: Record<string, unknown> | null | undefined, now: number): string {
  if (!message.includes('{seconds}')) return message;
  const deadline = typeof data?.deadline === 'string' ? Date.parse(data.deadline) : Number.NaN;
  return fillSeconds(message, secondsLeft(deadline, now));
}

export function presentFlash(row: FlashRow, now: number = Date.now()): Flash {
  const createdAt = row.created_at instanceof Date ? row.created_at.toISOString() : new Date(row.created_at).toISOString();
  const flash: Flash = { id: row.id, key: row.key, message: renderMessage(row.message, row.data, now), createdAt };
  if (row.data) flash.data = row.data;
  return flash;
}
