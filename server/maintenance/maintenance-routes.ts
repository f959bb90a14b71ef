import { Router } from 'express';
import { z } from 'zod';
import { parseInput } from '../http/validate.ts';
import { DEFAULT_COUNTDOWN_SECONDS, MAX_COUNTDOWN_SECONDS, MAX_MESSAGE_LENGTH, type Maintenance } from './maintenance.ts';

const startSchema = z.object({
  seconds: z
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(1, 'must be at least 1')
    .max(MAX_COUNTDOWN_SECONDS, `must be at most ${MAX_COUNTDOWN_SECONDS} (one hour)`)
    .default(DEFAULT_COUNTDOWN_SECONDS),
  message: z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(MAX_MESSAGE_LENGTH, `must be at most ${MAX_MESSAGE_LENGTH} characters`)
    .optional(),
});

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
    const input = parseInput(startSchema, req.body ?? {});
    res.status(202).json(await maintenance.start(input));
  });

  router.delete('/maintenance', async (_req, res) => {
    const { previous, status } = await maintenance.cancel();
    res.json({ ...status, previous });
  });

  return router;
}
