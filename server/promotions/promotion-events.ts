import type { PromotionEvent } from '../../protocol/events.ts';
import { createOutageLog } from '../db/outage-log.ts';
import type { Metrics } from '../metrics.ts';
import type { Logger } from '../logger.ts';
import type { Promotions } from './promotions.ts';

/** Most events one statement records. */
export const MAX_EVENT_BATCH = 1000;
/** Events waiting behind a running statement; a flood beyond this is dropped (and counted). */
export const MAX_PENDING_EVENTS = 10_000;

export interface PromotionEventQueue {
  /** Queues a widget event; recorded with the others that arrive meanwhile. */
  add(sessionKey: string, event: PromotionEvent): void;
  /** Resolves once every event queued so far has been recorded (or has failed). */
  flushed(): Promise<void>;
  /** Records what is queued, then takes no more. */
  close(): Promise<void>;
}

/**
 * The widget's promotion events, written in batches: one statement at a time, and the events
 * that arrive while it runs go into the next one, so 200 sockets flooding events cost one
 * statement at a time on one connection, never a queue of statements. Give it the realtime
 * pool (system.ts): the HTTP requests' pool then never waits behind widget events.
 *
 * Events keep their order across batches, and a batch records a display before a click of the
 * same banner (promotions.recordEvents), so a click that follows its display counts.
 */
export function createPromotionEventQueue(
  deps: { promotions: Pick<Promotions, 'recordEvents'>; logger: Logger; metrics?: Pick<Metrics, 'databaseReconnects'> },
  options: { maxBatch?: number; maxPending?: number } = {},
): PromotionEventQueue {
  const maxBatch = options.maxBatch ?? MAX_EVENT_BATCH;
  const maxPending = options.maxPending ?? MAX_PENDING_EVENTS;
  const outage = createOutageLog(deps.logger, 'promotion events', deps.metrics);
  /** By session, promotion and action: a repeat adds nothing (it would not be counted). */
  let pending = new Map<string, { sessionKey: string; event: PromotionEvent }>();
  let running: Promise<void> | undefined;
  let dropped = 0;
  let closed = false;

  const record = async (batch: Array<{ sessionKey: string; event: PromotionEvent }>): Promise<void> => {
    // Two batches that update several promotions' totals in different orders may deadlock
    // (PostgreSQL then aborts one): the aborted one is simply run again, once.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await deps.promotions.recordEvents(batch);
        outage.recovered();
        return;
      } catch (error) {
        if (attempt === 1 && (error as { code?: unknown }).code === '40P01') continue;
        // Lost with the database: widget events are analytics, not worth holding memory for.
        outage.failed(error);
        return;
      }
    }
  };

  const drain = async (): Promise<void> => {
    while (pending.size > 0) {
      const batch: Array<{ sessionKey: string; event: PromotionEvent }> = [];
      for (const [id, entry] of pending) {
        if (batch.length >= maxBatch) break;
        batch.push(entry);
        pending.delete(id);
      }
      await record(batch);
    }
    if (dropped > 0) {
      deps.logger.debug({ dropped }, 'promotion events dropped: more arrived than could be recorded');
      dropped = 0;
    }
    running = undefined;
  };

  return {
    add(sessionKey, event) {
      if (closed) return;
      const id = `${sessionKey} ${event.promotionId} ${event.action}`;
      if (pending.has(id)) return;
      if (pending.size >= maxPending) {
        dropped += 1;
        return;
      }
      pending.set(id, { sessionKey, event });
      running ??= drain();
    },
    async flushed() {
      while (running) await running;
    },
    async close() {
      closed = true;
      while (running) await running;
      pending = new Map();
    },
  };
}
