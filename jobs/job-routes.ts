import type { Agenda } from 'agenda';
import { createExpressMiddleware } from 'agendash';
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { parseInput } from '../server/http/validate.ts';
import type { Jobs } from './index.ts';

const scheduleSchema = z.strictObject({
  every: z.string({ error: 'must be an interval such as "1 minute", or a cron expression' }),
});

/**
 * The ops API for jobs (CONTRACT.md). Mounted under /ops/api behind requireOpsToken.
 *
 * GET /jobs → {jobs: [JobInfo]}; POST /jobs/:name/run → {name, jobId, result} once the run
 * has finished; PUT /jobs/:name/schedule {every} → the job's JobInfo; DELETE
 * /jobs/:name/schedule → the job's JobInfo. An unknown name is 404, the countdown (its own
 * endpoint) is 400 JOB_NOT_OPERABLE, a failed run is 500 JOB_FAILED with its reason.
 */
export function createJobRoutes(deps: { jobs: Jobs }): Router {
  const { jobs } = deps;
  const router = Router();

  router.get('/jobs', async (_req, res) => {
    res.json({ jobs: await jobs.list() });
  });

  router.post('/jobs/:name/run', async (req, res) => {
    res.json(await jobs.runNow(req.params.name));
  });

  router.put('/jobs/:name/schedule', async (req, res) => {
    const { every } = parseInput(scheduleSchema, req.body ?? {});
    res.json(await jobs.schedule(req.params.name, every));
  });

  router.delete('/jobs/:name/schedule', async (req, res) => {
    res.json(await jobs.unschedule(req.params.name));
  });

  return router;
}

/**
 * Agendash, for AppDeps.opsPages (served at /ops/jobs behind requireOpsLogin). It can create,
 * requeue and delete any job, so it must never be mounted without that login. Its stats and
 * live events need this process's Agenda to be started, which startJobs does in every role.
 */
export function createAgendashPage(agenda: Agenda): { path: string; handler: RequestHandler } {
  return { path: '/jobs', handler: createExpressMiddleware(agenda) };
}
