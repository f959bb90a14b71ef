import { Router } from 'express';
import type { Pool } from '../db/pool.ts';
import { type PresenceCounts, presenceCounts } from './presence.ts';

/** `GET /presence` → `{activeSessions, sockets}`; mounted under /ops/api behind the token. */
export function createPresenceRoutes(deps: { pool: Pool }): Router {
  const router = Router();
  router.get('/presence', async (_req, res) => {
    const counts: PresenceCounts = await presenceCounts(deps.pool);
    res.json(counts);
  });
  return router;
}
