import { z } from 'zod';
import type { PromotionEvent } from './events.ts';

/**
 * `promotion:event` as the server checks it: it comes from a browser, so its shape is not
 * taken on trust. The type it checks is events.ts's, which the widget imports; this file is
 * the server's alone, so zod stays out of the browser bundle (test/unit/boundaries.test.ts).
 */
export const promotionEventSchema = z.strictObject({
  // promotions.id is an integer column: a larger id cannot name a promotion.
  promotionId: z.number().int().positive().max(2_147_483_647),
  action: z.enum(['displayed', 'clicked', 'dismissed']),
}) satisfies z.ZodType<PromotionEvent>;
