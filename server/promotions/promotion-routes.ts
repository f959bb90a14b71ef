import { Router } from 'express';
import { opsApi } from '../../protocol/ops-api.ts';
import { promotionParams } from '../../protocol/ops-schemas.ts';
import { notFound } from '../errors.ts';
import { parseInput } from '../http/validate.ts';
import type { Promotions } from './promotions.ts';

/** Path ids that can name a promotion; anything else names none (404, like an unknown id). */
function promotionId(raw: string): number {
  const id = promotionParams.safeParse({ id: raw }).success ? Number(raw) : Number.NaN;
  if (!(id <= 2_147_483_647)) throw notFound(`Promotion ${JSON.stringify(raw)}`);
  return id;
}

/**
 * The ops API for promotions (CONTRACT.md). Mounted under /ops/api behind ops access.
 * GET /promotions → {promotions}; POST → 201 the promotion; GET/PATCH → the promotion;
 * DELETE → {deleted: id}; GET /promotions/:id/stats → {delivered, displayed, clicked, dismissed}.
 */
export function createPromotionRoutes(deps: { promotions: Promotions }): Router {
  const { promotions } = deps;
  const router = Router();

  router.get('/promotions', async (_req, res) => {
    res.json({ promotions: await promotions.list() });
  });

  router.post('/promotions', async (req, res) => {
    const input = parseInput(opsApi['POST /promotions'].body, req.body ?? {});
    const promotion = await promotions.create(input);
    res.status(201).location(`${req.baseUrl}/promotions/${promotion.id}`).json(promotion);
  });

  router.get('/promotions/:id', async (req, res) => {
    const id = promotionId(req.params.id);
    const promotion = await promotions.find(id);
    if (!promotion) throw notFound(`Promotion ${id}`);
    res.json(promotion);
  });

  router.patch('/promotions/:id', async (req, res) => {
    const id = promotionId(req.params.id);
    const patch = parseInput(opsApi['PATCH /promotions/:id'].body, req.body ?? {});
    const promotion = await promotions.update(id, patch);
    if (!promotion) throw notFound(`Promotion ${id}`);
    res.json(promotion);
  });

  router.delete('/promotions/:id', async (req, res) => {
    const id = promotionId(req.params.id);
    if (!(await promotions.remove(id))) throw notFound(`Promotion ${id}`);
    res.json({ deleted: id });
  });

  router.get('/promotions/:id/stats', async (req, res) => {
    const id = promotionId(req.params.id);
    const stats = await promotions.stats(id);
    if (!stats) throw notFound(`Promotion ${id}`);
    res.json(stats);
  });

  return router;
}
