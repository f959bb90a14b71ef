import { runPromotionRound } from '../server/promotions/promotion-round.ts';
import type { JobDefinition } from './job-definition.ts';
import { defineJobWithResult } from './job-results.ts';

export const PROMOTION_ROUND = 'promotion-round';

/** promotion-round: the round itself is the promotions domain's (server/promotions/promotion-round.ts). */
export const promotionRoundJob: JobDefinition = {
  name: PROMOTION_ROUND,
  defaultEvery: '1 minute',
  operable: true,
  define(agenda, deps) {
    // A round is four statements, about a second for 20,000 active visitors on a small
    // machine (bench/promotion-round.bench.ts): the default lock lifetime (a minute) needs
    // no touch.
    defineJobWithResult(agenda, deps.pool, PROMOTION_ROUND, async () => {
      const result = await runPromotionRound(deps);
      deps.metrics?.flashesWritten.inc(result.sessions);
      return result;
    });
  },
};
