import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPromotionRound } from '../../server/promotions/promotion-round.ts';
import { createPromotionEventQueue } from '../../server/promotions/promotion-events.ts';
import { createPromotions, type Promotions } from '../../server/promotions/promotions.ts';
import { testLogger } from '../support/app.ts';
import type { Flash } from '../../protocol/events.ts';
import { collectFlashes, eventually, startRealtimeApp, type RealtimeApp } from '../realtime/support.ts';

let t: RealtimeApp;
let promotions: Promotions;
let events: ReturnType<typeof createPromotionEventQueue>;

beforeAll(async () => {
  // Wired as server/system.ts wires it: the widget's events go through the batching queue.
  t = await startRealtimeApp({ hooks: { onPromotionEvent: (key, event) => events.add(key, event) } });
  promotions = createPromotions({ pool: t.pool });
  events = createPromotionEventQueue({ promotions, logger: testLogger });
});
afterAll(async () => {
  await events?.close();
  await t?.close();
});

describe('when a visitor has the site open and a round runs', () => {
  it('then the banner arrives over its socket, is stored in its session, and the widget events are counted', async () => {
    const promotion = await promotions.create({
      name: 'Live',
      callToAction: 'Free shipping today',
      url: '/shipping',
      active: true,
      weight: 1,
    });
    const present = await t.newVisitor();
    const away = await t.newVisitor();
    const socket = await t.connect(present);
    const received = collectFlashes(socket);
    await eventually(async () => expect((await t.presence()).activeSessions).toBe(1));

    const result = await runPromotionRound({ pool: t.pool, emitter: t.realtime.io });

    expect(result).toEqual({ sessions: 1, promotions: { [String(promotion.id)]: 1 } });
    await eventually(() => expect(received).toHaveLength(1));
    expect(received[0]).toMatchObject({
      key: 'promotion',
      message: 'Free shipping today',
      data: { promotionId: promotion.id, url: '/shipping' },
    });
    // The same flash is in the session, for the next page load; the visitor who was away got nothing.
    const { body } = await present.json<{ flashes: Flash[] }>('/api/flashes');
    expect(body.flashes.find((flash) => flash.key === 'promotion')?.id).toBe(received[0]!.id);
    expect((await away.json<{ flashes: Flash[] }>('/api/flashes')).body.flashes).toEqual([]);

    socket.emit('promotion:event', { promotionId: promotion.id, action: 'displayed' });
    socket.emit('promotion:event', { promotionId: promotion.id, action: 'displayed' });
    socket.emit('promotion:event', { promotionId: promotion.id, action: 'clicked' });
    await eventually(async () =>
      expect(await promotions.stats(promotion.id)).toEqual({ delivered: 1, displayed: 1, clicked: 1, dismissed: 0 }),
    );
  });
});
