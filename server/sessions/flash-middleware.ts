import { randomUUID } from 'node:crypto';
import { format } from 'node:util';
import type { Request, RequestHandler, Response } from 'express';
import type { Flash } from '../../protocol/events.ts';
import type { Pool } from '../db/pool.ts';
import { errorSummary } from '../db/outage-log.ts';
import { ensureStoredSession } from '../http/session-middleware.ts';
import type { Logger } from '../logger.ts';
import type { RoomEmitter } from '../realtime/push.ts';
import { sessionRoom } from '../realtime/rooms.ts';
import { presentFlash, type FlashRow } from './flash.ts';
import { sessionKey } from './session-key.ts';
import type { SessionStore } from './session-store.ts';

/**
 * `req.flash` with connect-flash's calls and results, on flashcast's flashes table:
 *
 *   req.flash('info', 'Saved!')         appends, returns how many 'info' messages there are
 *   req.flash('info', 'Hi %s', name)    util.format, as connect-flash
 *   req.flash('info', ['a', 'b'])       appends each
 *   req.flash('info')                   returns the 'info' messages and removes them
 *   req.flash()                         returns { type: [messages] } and removes them
 *
 * How a connect-flash list maps onto keyed flashes: a type is a flash key, and the messages of
 * one type are ONE flash under that key, its `data.messages` the list and its message the list
 * joined by newlines. Each append is one upsert that adds to the list and gives the flash a new
 * id; so the widget's banner for the key is replaced by the longer list, and an acknowledgement
 * of the older id (a tab that showed the shorter list) cannot delete the message added since.
 * A flash under the key that `req.flash` did not write (an ops `notice`, say) is replaced, as a
 * newer flash under a key always replaces the older one. `req.flash(type)` reads any key;
 * `req.flash()` leaves out `promotion` and `maintenance`, which only the widget can show (a call
 * to action, a live countdown).
 *
 * Reads are synchronous, as connect-flash's are: they answer from the flashes the store loaded
 * with the session plus this request's own appends; the writes run in order behind them, and
 * the response is held until they are done, so the next request (the page a redirect leads to)
 * finds them stored.
 *
 * Pushed at once, but as a copy: the session's open tabs get the list under a fresh id with
 * `data.copyOf` naming the stored flash. A tab acknowledges the copy's original only some
 * seconds later (COPY_ACK_DELAY_MS in the widget), so another tab that shows the copy at once
 * does not consume the message before the page that the flashing request redirects to reads it.
 */

declare global {
  // The same overloads as @types/connect-flash, so an app's existing calls type-check unchanged.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      flash(): { [type: string]: string[] };
      flash(type: string): string[];
      flash(type: string, message: string | string[]): number;
      flash(type: string, format: string, ...args: unknown[]): number;
    }
  }
}

/** Keys `req.flash()` (all types) leaves to the widget. */
const WIDGET_ONLY_KEYS = new Set(['promotion', 'maintenance']);
/** A type is a flash key: the same rule as ops' keys (CONTRACT.md). */
const TYPE_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** One message's most characters, as for ops' flashes (flashMessage in protocol/ops-schemas.ts). */
const MAX_MESSAGE_LENGTH = 1000;

export interface FlashMiddlewareDeps {
  pool: Pool;
  store: SessionStore;
  /** Where pushes go: the Socket.IO server, or a worker's emitter (server/realtime/push.ts). */
  emitter: RoomEmitter;
  logger: Logger;
}

/** One upsert: appends to the list of a `req.flash` flash, or replaces any other flash under the key. */
const APPEND_SQL = `
  INSERT INTO flashes (session_sid, key, id, message, data)
  VALUES ($1, $2, $3, array_to_string($4::text[], E'\\n'), jsonb_build_object('messages', to_jsonb($4::text[])))
  ON CONFLICT (session_sid, key) DO UPDATE SET
    id = EXCLUDED.id,
    message = CASE WHEN flashes.data ? 'messages' THEN flashes.message || E'\\n' || EXCLUDED.message ELSE EXCLUDED.message END,
    data = CASE WHEN flashes.data ? 'messages'
                THEN jsonb_set(flashes.data, '{messages}', (flashes.data -> 'messages') || (EXCLUDED.data -> 'messages'))
                ELSE EXCLUDED.data END,
    created_at = now()
  RETURNING id, key, message, data, created_at`;

/** A read consumes only the flashes it saw (by id): a message appended since by another request stays. */
const CONSUME_SQL = 'DELETE FROM flashes WHERE session_sid = $1 AND key = ANY($2::text[]) AND id = ANY($3::uuid[])';

/** Whether `req.flash` wrote the flash: its `data.messages` is the list. */
function isList(flash: Flash): boolean {
  const list = flash.data?.messages;
  return Array.isArray(list) && list.every((item) => typeof item === 'string');
}

/** The messages a flash holds: its list when `req.flash` wrote it, else its one message. */
function messagesOf(flash: Flash): string[] {
  return isList(flash) ? [...(flash.data!.messages as string[])] : [flash.message];
}

function toMessages(message: unknown, args: unknown[]): string[] {
  const list = Array.isArray(message) ? message : [args.length > 0 ? format(message, ...args) : message];
  return list.map((item) => String(item).slice(0, MAX_MESSAGE_LENGTH));
}

export function flashMiddleware(deps: FlashMiddlewareDeps): RequestHandler {
  const { pool, store, emitter, logger } = deps;

  return (req, res, next) => {
    /** Messages by type as this request sees them, with the ids of the flashes they came from. */
    let view: Map<string, { messages: string[]; ids: string[]; list: boolean }> | undefined;
    let queue: Promise<void> | undefined;

    const load = () => {
      if (view) return view;
      if (!req.session) throw new Error("flashcast's flash middleware needs express-session (with flashcast's store) mounted before it.");
      view = new Map();
      const loaded = Array.isArray(req.session.flash) ? req.session.flash : [];
      for (const flash of loaded) view.set(flash.key, { messages: messagesOf(flash), ids: [flash.id], list: isList(flash) });
      return view;
    };

    /** Runs the writes in order, and holds the response until they are done. */
    const enqueue = (work: () => Promise<void>): void => {
      if (!queue) holdResponse(res, () => queue!);
      queue = (queue ?? Promise.resolve()).then(work).catch((error: unknown) => {
        logger.warn({ error: errorSummary(error), url: req.originalUrl }, 'req.flash could not write or consume flashes');
      });
    };

    const append = (type: string, messages: string[]): void => {
      const entry = load().get(type) ?? { messages: [], ids: [], list: true };
      load().set(type, entry);
      // A flash under the key that req.flash did not write is replaced by the upsert, not joined.
      if (!entry.list) Object.assign(entry, { messages: [], list: true });
      entry.messages.push(...messages);
      const id = randomUUID();
      entry.ids.push(id);
      enqueue(async () => {
        const key = await ensureStoredSession(req, store);
        const { rows } = await pool.query<FlashRow>(APPEND_SQL, [key, type, id, messages]);
        const stored = presentFlash(rows[0]!);
        const copy: Flash = { ...stored, id: randomUUID(), data: { ...stored.data, copyOf: stored.id } };
        emitter.to(sessionRoom(key)).emit('flash', copy);
      });
    };

    const consume = (types: string[]): void => {
      const ids = types.flatMap((type) => view?.get(type)?.ids ?? []);
      for (const type of types) view?.delete(type);
      if (ids.length === 0) return;
      enqueue(async () => {
        await pool.query(CONSUME_SQL, [sessionKey(req.sessionID), types, ids]);
      });
    };

    function flash(this: Request, type?: string, message?: unknown, ...args: unknown[]): number | string[] | Record<string, string[]> {
      // connect-flash's tests, falsy and all: no type reads everything, no message reads the type.
      if (!type) {
        const all: Record<string, string[]> = {};
        const types = [...load().keys()].filter((key) => !WIDGET_ONLY_KEYS.has(key));
        for (const key of types) all[key] = [...load().get(key)!.messages];
        consume(types);
        return all;
      }
      if (!TYPE_PATTERN.test(type)) throw new TypeError(`req.flash: the type "${type}" must be 1 to 32 letters, digits, "_" or "-"`);
      if (!message) {
        const messages = [...(load().get(type)?.messages ?? [])];
        consume([type]);
        return messages;
      }
      append(type, toMessages(message, args));
      return load().get(type)!.messages.length;
    }

    // connect-flash installs itself only where no req.flash exists yet: with this middleware
    // mounted first, an app's `app.use(flash())` stays in place and changes nothing.
    req.flash = flash as Request['flash'];
    next();
  };
}

/**
 * Holds `res.end` until `pending()` settles: a redirect's response must not reach the browser
 * before the flashes it announces are stored, or the page it leads to could load without them.
 */
function holdResponse(res: Response, pending: () => Promise<void>): void {
  const end = res.end;
  res.end = function held(this: Response, ...args: unknown[]) {
    void pending().then(() => (end as (...a: unknown[]) => Response).apply(res, args));
    return res;
  } as Response['end'];
}
