import { Router } from 'express';
import { opsApi } from '../../protocol/ops-api.ts';
import type { Push } from '../realtime/push.ts';
import type { FlashTarget, Sessions } from './sessions.ts';
import { parseInput } from '../http/validate.ts';

/** The ops API for sessions and flashes. Mounted under /ops/api behind ops access (ops-access/ops-access.ts). */
export function createSessionRoutes(deps: { sessions: Sessions; push: Push }): Router {
  const router = Router();

  router.post('/flashes', async (req, res) => {
    const input = parseInput(opsApi['POST /flashes'].body, req.body ?? {});
    const target: FlashTarget = typeof input.to === 'string' ? input.to : { sessions: input.to.sessions };
    const written = await deps.push.flash(target, { key: input.key, message: input.message });
    res.status(201).json({ sessions: written.sessions, flash: written.flash });
  });

  router.get('/sessions/stats', async (_req, res) => {
    res.json(await deps.sessions.stats());
  });

  return router;
}
