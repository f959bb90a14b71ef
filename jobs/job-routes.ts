import { createExpressMiddleware } from 'agendash';
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import { opsApi } from '../protocol/ops-api.ts';
import { setAuditTarget } from '../server/ops-access/audit-writes.ts';
import { parseInput } from '../server/http/validate.ts';
import { AppError, validationFailed } from '../server/errors.ts';
import type { Jobs } from './jobs.ts';

/**
 * The ops API for jobs (CONTRACT.md). Mounted under /ops/api behind ops access.
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
    const { every } = parseInput(opsApi['PUT /jobs/:name/schedule'].body, req.body ?? {});
    res.json(await jobs.schedule(req.params.name, every));
  });

  router.delete('/jobs/:name/schedule', async (req, res) => {
    res.json(await jobs.unschedule(req.params.name));
  });

  return router;
}

/** Agendash's id-based writes (node_modules/agendash/dist/middlewares/express.js). */
const AGENDASH_ID_WRITES = ['requeue', 'retry', 'delete', 'pause', 'resume'] as const;

const jobIdsSchema = z.strictObject({
  jobIds: z.array(z.string().min(1).max(64), { error: 'must be a list of job ids' }).min(1).max(100, 'at most 100 jobs at once'),
});

const agendashCreateSchema = z.strictObject({
  jobName: z.string({ error: 'must name a job' }).min(1).max(100),
  jobRepeatEvery: z.string().max(100).optional(),
  jobSchedule: z.string().max(100).optional(),
  // The UI sends {} or nothing; our jobs take no data, so none is accepted.
  jobData: z.union([z.undefined(), z.null(), z.strictObject({}, { error: 'our jobs take no data' })]).optional(),
});

/**
 * Agendash, for AppDeps.opsPages (served at /ops/jobs behind ops access: the console's
 * session or a bearer token; viewers read, writes need the operator role, are audited, and
 * never come cross-site). Its stats and live events need this process's Agenda to be started,
 * which startJobs does in every role.
 *
 * Agendash's writes go through the rules our own jobs API keeps, in front of its handlers:
 * - create: only a job the jobs API may operate; a repeat is set by `jobs.schedule`, so it
 *   passes the same validation as PUT /ops/api/jobs/:name/schedule (never "a minute", never
 *   a cron that cannot fire); without one it is a run now; one-off dates and job data are
 *   refused (400). It never creates a row of an unknown job.
 * - requeue, retry, pause, resume: only rows of operable jobs (not the countdown, which has
 *   its own endpoint, and not rows of unknown names). delete: also rows of unknown names, so
 *   junk can be cleaned up; never the countdown's.
 * Its error bodies are replaced by our error shape: they carried database messages.
 */
export function createAgendashPage(jobs: Pick<Jobs, 'agenda' | 'list' | 'schedule'>): { path: string; handler: RequestHandler | Router } {
  const router = Router();
  const operableNames = async () => new Set((await jobs.list()).filter((job) => job.operable).map((job) => job.name));
  const knownNames = async () => new Set((await jobs.list()).map((job) => job.name));

  router.use((_req, res, next) => {
    const json = res.json;
    res.json = function (this: typeof res, body: unknown) {
      if (this.statusCode >= 400 && !isOurError(body)) {
        return json.call(this, {
          error: { code: 'AGENDASH_FAILED', message: 'Agendash could not do that; check the job ids and try again.' },
        });
      }
      return json.call(this, body);
    };
    next();
  });

  router.post('/api/jobs/create', async (req, res) => {
    const input = parseInput(agendashCreateSchema, req.body ?? {});
    if (!(await operableNames()).has(input.jobName)) {
      throw validationFailed(
        `jobName: ${JSON.stringify(input.jobName)} is not a job ops can create here (${[...(await operableNames())].join(', ')})`,
      );
    }
    setAuditTarget(res, input.jobName);
    if (input.jobSchedule)
      throw validationFailed(
        'jobSchedule: one-off dates are not accepted; give a repeat ("Repeat Every"), or leave both empty to run it now',
      );
    if (input.jobRepeatEvery) await jobs.schedule(input.jobName, input.jobRepeatEvery);
    else await jobs.agenda.now(input.jobName);
    res.json({ created: true });
  });

  for (const action of AGENDASH_ID_WRITES) {
    router.post(`/api/jobs/${action}`, async (req, _res, next) => {
      const { jobIds } = parseInput(jobIdsSchema, req.body ?? {});
      let names: string[];
      try {
        names = (await jobs.agenda.queryJobs({ ids: jobIds })).jobs.map((job) => job.name);
      } catch {
        throw validationFailed('jobIds: not job ids of this Agenda');
      }
      const operable = await operableNames();
      const known = await knownNames();
      const refused = names.filter((name) => !operable.has(name) && (action !== 'delete' || known.has(name)));
      setAuditTarget(_res, [...new Set(names)].join(',') || '(none)');
      if (refused.length > 0) {
        throw new AppError(
          'JOB_NOT_OPERABLE',
          `${[...new Set(refused)].join(', ')}: not changed through Agendash; it has its own endpoint.`,
        );
      }
      next();
    });
  }

  router.use(createExpressMiddleware(jobs.agenda));
  return { path: '/jobs', handler: router };
}

function isOurError(body: unknown): boolean {
  const error = (body as { error?: unknown } | null)?.error;
  return typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string';
}
