import { Router } from 'express';
import { z } from 'zod';
import type { Push } from '../realtime/push.ts';
import { flashKeySchema, flashMessageSchema } from './flash.ts';
import type { FlashTarget, Sessions } from './sessions.ts';
import { parseInput } from '../http/validate.ts';

const MAX_TARGET_SESSIONS = 1000;

const pushSchema = z.object({
  to: z.union(
    [
      z.literal('active'),
      z.literal('all'),
      z.object({
        sessions: z.array(z.string().min(1).max(128)).min(1).max(MAX_TARGET_SESSIONS, `at most ${MAX_TARGET_SESSIONS} sessions`),
      }),
    ],
    { error: 'must be "active", "all" or {"sessions": [session keys]}' },
  ),
  key: flashKeySchema,
  message: flashMessageSchema,
});

/** The ops API for sessions and flashes. Mounted under /ops/api behind ops access (ops-access/ops-access.ts). */
export function createSessionRoutes(deps: { sessions: Sessions; push: Push }): Router {
  const router = Router();

  router.post('/flashes', async (req, res) => {
    const input = parseInput(pushSchema, req.body ?? {});
    const target: FlashTarget = typeof input.to === 'string' ? input.to : { sessions: input.to.sessions };
    const written = await deps.push.flash(target, { key: input.key, message: input.message });
    res.status(201).json({ sessions: written.sessions, flash: written.flash });
  });

  router.get('/sessions/stats', async (_req, res) => {
    res.json(await deps.sessions.stats());
  });

  return router;
}
