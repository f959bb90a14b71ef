import { Router } from 'express';
import { opsApi } from '../../protocol/ops-api.ts';
import { parseInput } from '../http/validate.ts';
import type { Maintenance } from './maintenance.ts';

/**
 * The ops API for maintenance (CONTRACT.md), mounted under /ops/api behind the token:
 * GET /maintenance, POST /maintenance {seconds?, message?} (409 unless idle),
 * DELETE /maintenance (cancels a countdown or ends maintenance; 200 when already idle).
 */
export function createMaintenanceRoutes(maintenance: Pick<Maintenance, 'status' | 'start' | 'cancel'>): Router {
  const router = Router();

  router.get('/maintenance', async (_req, res) => {
    res.json(await maintenance.status());
  });

  router.post('/maintenance', async (req, res) => {
    const input = parseInput(opsApi['POST /maintenance'].body, req.body ?? {});
    res.status(202).json(await maintenance.start(input));
  });

  router.delete('/maintenance', async (_req, res) => {
    const { previous, status } = await maintenance.cancel();
    res.json({ ...status, previous });
  });

  return router;
}
