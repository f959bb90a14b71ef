import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPromotionRound } from '../../server/promotions/promotion-round.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';
import { createPromotionEventQueue, type PromotionEventQueue } from '../../server/promotions/promotion-events.ts';
import { createPromotions, type Promotion, type Promotions } from '../../server/promotions/promotions.ts';
import { testLogger } from '../support/app.ts';
import { eventually, keyOf, startRealtimeApp, type RealtimeApp, type TestSocket } from '../realtime/support.ts';
import type { Visitor } from '../support/http.ts';

/**
 * Issue 8: clicks counted without any display; 200 sockets flooding `promotion:event` slowed
 * /healthz and every page, since each event was its own statement on the HTTP requests' pool.
 * Wired here as server/system.ts wires it: the socket server hands events to the queue, which
 * records them in batches on a pool of its own.
 */

let t: RealtimeApp;
/** The pool the queue writes with (the realtime pool in system.ts), apart from the app's. */
let eventsPool: Pool;
let promotions: Promotions;
let events: PromotionEventQueue;
/** Statements each pool was asked to run that record promotion events. */
const eventStatements = { app: 0, events: 0 };
/** Sizes of the batches recorded. */
const batches: number[] = [];

function countEventStatements(pool: Pool, name: keyof typeof eventStatements): void {
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string }).text ?? '');
    if (/UPDATE promotion_deliveries/.test(text)) eventStatements[name] += 1;
    return query(...args);
  };
}

beforeAll(async () => {
  t = await startRealtimeApp({ hooks: { onPromotionEvent: (key, event) => events.add(key, event) } });
  eventsPool = createPool({ url: t.databaseUrl, logger: testLogger, max: 2 });
  countEventStatements(t.pool, 'app');
  countEventStatements(eventsPool, 'events');
  promotions = createPromotions({ pool: t.pool });
  const recorder = createPromotions({ pool: eventsPool });
  events = createPromotionEventQueue({
    promotions: {
      recordEvents: (batch) => {
        batches.push(batch.length);
        return recorder.recordEvents(batch);
      },
    },
    logger: testLogger,
  });
});
afterAll(async () => {
  await events?.close();
  await t?.close();
  await eventsPool?.end();
});

/** Visitors with a socket each, every one given `promotion` by a round. */
async function visitorsGiven(count: number): Promise<{ promotion: Promotion; visitors: Visitor[]; sockets: TestSocket[] }> {
  // Earlier promotions are switched off, so this round gives this one.
  await t.pool.query('UPDATE promotions SET active = false');
  const promotion = await promotions.create({ name: `P${Date.now()}`, callToAction: 'Look', active: true, weight: 1 });
  const visitors = await Promise.all(Array.from({ length: count }, () => t.newVisitor()));
  const sockets = await Promise.all(visitors.map((visitor) => t.connect(visitor)));
  await eventually(async () => expect((await t.presence()).activeSessions).toBeGreaterThanOrEqual(count));
  await runPromotionRound({ pool: t.pool, emitter: t.realtime.io });
  const { rows } = await t.pool.query('SELECT count(*)::int AS n FROM promotion_deliveries WHERE promotion_id = $1', [promotion.id]);
  expect(rows[0].n).toBeGreaterThanOrEqual(count);
  return { promotion, visitors, sockets };
}

describe('when a widget reports a click on a banner it never displayed', () => {
  it('then the click is not counted; after a display, it is', async () => {
    const { promotion, visitors, sockets } = await visitorsGiven(2);
    const [clicksOnly, honest] = sockets as [TestSocket, TestSocket];

    clicksOnly.emit('promotion:event', { promotionId: promotion.id, action: 'clicked' });
    honest.emit('promotion:event', { promotionId: promotion.id, action: 'displayed' });
    honest.emit('promotion:event', { promotionId: promotion.id, action: 'clicked' });
    await eventually(async () => expect(await promotions.stats(promotion.id)).toMatchObject({ displayed: 1, clicked: 1 }));
    await events.flushed();
    const { rows } = await t.pool.query('SELECT clicked_at FROM promotion_deliveries WHERE session_sid = $1 AND promotion_id = $2', [
      keyOf(visitors[0]!),
      promotion.id,
    ]);
    expect(rows[0].clicked_at).toBeNull();

    // The same session displays it later: its next click counts.
    clicksOnly.emit('promotion:event', { promotionId: promotion.id, action: 'displayed' });
    clicksOnly.emit('promotion:event', { promotionId: promotion.id, action: 'clicked' });
    await eventually(async () => expect(await promotions.stats(promotion.id)).toMatchObject({ displayed: 2, clicked: 2 }));
  });
});

describe('when many sockets report events at once', () => {
  it('then they are recorded in a few batched statements on the events pool, none on the pool that serves HTTP', async () => {
    const { promotion, sockets } = await visitorsGiven(40);
    await events.flushed();
    eventStatements.app = 0;
    eventStatements.events = 0;
    batches.length = 0;

    for (const socket of sockets) socket.emit('promotion:event', { promotionId: promotion.id, action: 'displayed' });
    for (const socket of sockets) socket.emit('promotion:event', { promotionId: promotion.id, action: 'dismissed' });
    await eventually(async () => expect(await promotions.stats(promotion.id)).toMatchObject({ displayed: 40, dismissed: 40 }));
    await events.flushed();

    expect(eventStatements.app).toBe(0);
    expect(batches.reduce((sum, size) => sum + size, 0)).toBe(80);
    // One statement at a time; those that arrive meanwhile go together: far fewer than 80.
    expect(eventStatements.events).toBe(batches.length);
    expect(batches.length).toBeLessThan(40);
  });
});
