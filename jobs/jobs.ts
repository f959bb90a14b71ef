import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Agenda, JobWithState } from 'agenda';
import type { Pool } from '../server/db/pool.ts';
import { AppError, notFound } from '../server/errors.ts';
import type { Logger } from '../server/logger.ts';
import type { Metrics } from '../server/metrics.ts';
import { createAgenda, waitForJob } from './agenda.ts';
import { parseEvery } from './every.ts';
import type { JobDefinition, JobDeps } from './job-definition.ts';
import { jobDefinitions } from './registry.ts';
import { lastJobResults, readJobResult } from './job-results.ts';
import { withTransaction } from '../server/db/transaction.ts';

export type JobsRole = 'all' | 'web' | 'worker';

export interface StartJobsOptions {
  /** 'worker' and 'all' define the jobs and run them; 'web' only enqueues and hears results. */
  role: JobsRole;
  pool: Pool;
  logger: Logger;
  /** Set: Agenda keeps its jobs in MongoDB. Results and schedule markers stay in PostgreSQL. */
  mongodbUrl?: string | undefined;
  deps: JobDeps;
  /** Unique per process (Agenda drops events whose source has its own name): see jobsProcessName. */
  processName: string;
  /** How often a worker polls for due jobs when no notification woke it (default 5 s). */
  processEvery?: string | number;
  /** The jobs; tests replace the registry. */
  definitions?: readonly JobDefinition[];
  /** How long runNow waits for the run to finish (default 2 minutes). */
  runTimeoutMs?: number;
  /** Counts this process's runs, their durations and failures, by job. */
  metrics?: Metrics | undefined;
}

/** One job as the ops API lists it. Times are ISO strings, null when there is none. */
export interface JobInfo {
  name: string;
  /** False for jobs started some other way (the countdown): no run-now, no schedule. */
  operable: boolean;
  /** The repeating schedule ("1 minute", a cron expression), null when it does not repeat. */
  every: string | null;
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastFinishedAt: string | null;
  /** Why the latest finished run failed; null when it succeeded. */
  failReason: string | null;
  running: boolean;
  /** What the latest successful run returned, and when. */
  lastResult: unknown;
  lastResultAt: string | null;
}

export interface JobRun {
  name: string;
  jobId: string;
  result: unknown;
}

export interface Jobs {
  agenda: Agenda;
  /** Runs the job now, wherever a worker is, and resolves with its result when it has finished. */
  runNow(name: string): Promise<JobRun>;
  list(): Promise<JobInfo[]>;
  /** Sets the job's repeating schedule; the next run is one interval (or cron tick) from now. */
  schedule(name: string, every: string): Promise<JobInfo>;
  /** Removes the job's repeating schedule; runs already queued still happen. */
  unschedule(name: string): Promise<JobInfo>;
  /** Stops taking jobs, waits for running ones, releases what this process had claimed. */
  stop(): Promise<void>;
}

/** A process name unique across hosts and restarts. */
export function jobsProcessName(role: JobsRole): string {
  return `${role}-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

const iso = (date: Date | null | undefined): string | null => (date ? new Date(date).toISOString() : null);

/**
 * Starts Agenda for this process's role and returns the jobs' operations. A worker ('worker'
 * or 'all') also creates each job's default schedule, once per database, ever: see
 * `installDefaultSchedules`.
 */
export async function startJobs(options: StartJobsOptions): Promise<Jobs> {
  const { role, pool, logger } = options;
  const definitions = options.definitions ?? jobDefinitions;
  const byName = new Map(definitions.map((definition) => [definition.name, definition]));
  const runs = role !== 'web';

  // Aborted when stop() begins, before Agenda drains: a long job (the countdown) hands its
  // work over instead of holding the drain.
  const stopping = new AbortController();
  const handle = await createAgenda({
    pool,
    logger,
    processName: options.processName,
    ...(options.mongodbUrl ? { mongodbUrl: options.mongodbUrl } : {}),
    ...(options.processEvery !== undefined ? { processEvery: options.processEvery } : {}),
    metrics: options.metrics,
  });
  const { agenda } = handle;

  try {
    if (runs) {
      const deps: JobDeps = { ...options.deps, stopping: stopping.signal };
      for (const definition of definitions) definition.define(agenda, deps);
      // Each process logs the failures of the runs it ran; Agenda also re-emits other
      // processes' failures here (remote: true, with a notification instead of a job).
      agenda.on('fail', (error: unknown, job: { attrs?: { name: string; _id?: unknown } }, remote?: boolean) => {
        if (remote || !job.attrs) return;
        logger.error({ err: error, job: job.attrs.name, jobId: String(job.attrs._id) }, 'job failed');
      });
      if (options.metrics) countRuns(agenda, options.metrics);
      await installDefaultSchedules(agenda, pool, definitions);
      for (const definition of definitions) await definition.resume?.(agenda, deps);
    }
    // A web process starts too, without definitions: it then notifies workers of what it
    // enqueues and hears their completions, but never runs anything itself.
    await agenda.start();
  } catch (error) {
    await handle.stop().catch(() => undefined);
    throw error;
  }

  const operable = (name: string): JobDefinition => {
    const definition = byName.get(name);
    if (!definition) throw notFound(`A job named ${JSON.stringify(name)} (jobs: ${[...byName.keys()].join(', ')})`);
    if (!definition.operable)
      throw new AppError('JOB_NOT_OPERABLE', `${name} is not run or scheduled through the jobs API; it has its own endpoint.`);
    return definition;
  };

  const list = async (): Promise<JobInfo[]> => {
    const names = [...byName.keys()];
    const [{ jobs }, results] = await Promise.all([agenda.queryJobs({ names }), lastJobResults(pool, names)]);
    return definitions.map((definition) =>
      jobInfo(
        definition,
        jobs.filter((job) => job.name === definition.name),
        results.get(definition.name),
      ),
    );
  };
  const one = async (name: string): Promise<JobInfo> => (await list()).find((job) => job.name === name)!;

  return {
    agenda,

    async runNow(name) {
      operable(name);
      const job = await agenda.now(name);
      const jobId = String(job.attrs._id);
      const outcome = await waitForJob(agenda, name, jobId, options.runTimeoutMs ?? 120_000);
      if (!outcome.ok) throw new AppError('JOB_FAILED', `${name} failed: ${outcome.failReason ?? 'no reason was given'}`);
      const stored = await readJobResult(pool, jobId);
      return { name, jobId, result: stored?.result ?? null };
    },

    list,

    async schedule(name, every) {
      operable(name);
      const interval = parseEvery(agenda, every);
      await withScheduleMarker(pool, name, 'always', () => agenda.every(interval, name, {}, { skipImmediate: true }).then(() => undefined));
      return one(name);
    },

    async unschedule(name) {
      operable(name);
      await withScheduleMarker(pool, name, 'always', async () => {
        const { jobs } = await agenda.queryJobs({ name });
        const ids = jobs.filter((job) => job.type === 'single').map((job) => String(job._id));
        if (ids.length > 0) await agenda.cancel({ ids });
      });
      return one(name);
    },

    async stop() {
      stopping.abort();
      await handle.stop();
    },
  };
}

/**
 * Counts the runs this process ran, as they complete: Agenda emits 'complete' after
 * 'success' or 'fail', and re-emits other processes' events with `remote` set, which are
 * theirs to count.
 */
function countRuns(agenda: Agenda, metrics: Metrics): void {
  const failed = new WeakSet<object>();
  agenda.on('fail', (_error: unknown, job: object, remote?: boolean) => {
    if (!remote) failed.add(job);
  });
  agenda.on('complete', (job: { attrs?: { name: string; lastRunAt?: Date | null } }, remote?: boolean) => {
    if (remote || !job.attrs) return;
    const name = job.attrs.name;
    metrics.jobRuns.inc({ job: name, result: failed.delete(job) ? 'failure' : 'success' });
    if (job.attrs.lastRunAt) metrics.jobSeconds.observe({ job: name }, (Date.now() - new Date(job.attrs.lastRunAt).getTime()) / 1000);
  });
}

/**
 * Creates each job's default schedule the first time any worker starts on this database,
 * and never again: not when several workers start together, not after a restart, and not
 * after ops removed or changed it (their change inserts the same marker).
 *
 * `every()` runs with skipImmediate and exactly once, so the first run is one interval after
 * the first start. (Calling it on every start, as Agenda's examples do, would push the next
 * run an interval further at each restart: restarted more often than the interval, a job
 * would never run.)
 */
async function installDefaultSchedules(agenda: Agenda, pool: Pool, definitions: readonly JobDefinition[]): Promise<void> {
  for (const definition of definitions) {
    const every = definition.defaultEvery;
    if (!every) continue;
    await withScheduleMarker(pool, definition.name, 'if-new', () =>
      agenda.every(every, definition.name, {}, { skipImmediate: true }).then(() => undefined),
    );
  }
}

/**
 * Runs `change` while holding the job's row of job_default_schedules, inserted if missing.
 * The row is inserted in a transaction that commits only after `change` succeeded: a
 * concurrent starter waits on the uncommitted row, then finds it and does nothing ('if-new');
 * a failed change rolls the marker back, so the next start tries again.
 */
async function withScheduleMarker(pool: Pool, name: string, when: 'if-new' | 'always', change: () => Promise<void>): Promise<void> {
  await withTransaction(pool, async (client) => {
    const { rowCount } = await client.query('INSERT INTO job_default_schedules (job_name) VALUES ($1) ON CONFLICT (job_name) DO NOTHING', [
      name,
    ]);
    if (when === 'always' || rowCount === 1) await change();
  });
}

/** One job's line in the list, from all of its Agenda rows (the schedule and any run-now runs). */
function jobInfo(definition: JobDefinition, rows: JobWithState[], last: { result: unknown; finishedAt: Date } | undefined): JobInfo {
  const schedule = rows.find((row) => row.type === 'single' && row.repeatInterval);
  const latest = (pick: (row: JobWithState) => Date | null | undefined): Date | undefined => {
    let best: Date | undefined;
    for (const row of rows) {
      const value = pick(row);
      if (value && (!best || new Date(value) > best)) best = new Date(value);
    }
    return best;
  };
  let next: Date | undefined;
  for (const row of rows) {
    if (row.nextRunAt && !row.disabled && (!next || new Date(row.nextRunAt) < next)) next = new Date(row.nextRunAt);
  }
  const lastFinishedAt = latest((row) => row.lastFinishedAt);
  const lastFinished = rows.find(
    (row) => row.lastFinishedAt && lastFinishedAt && new Date(row.lastFinishedAt).getTime() === lastFinishedAt.getTime(),
  );
  return {
    name: definition.name,
    operable: definition.operable,
    every: schedule?.repeatInterval ? String(schedule.repeatInterval) : null,
    nextRunAt: iso(next),
    lastRunAt: iso(latest((row) => row.lastRunAt)),
    lastFinishedAt: iso(lastFinishedAt),
    failReason: lastFinished?.state === 'failed' ? (lastFinished.failReason ?? 'failed') : null,
    running: rows.some((row) => row.state === 'running'),
    lastResult: last?.result ?? null,
    lastResultAt: iso(last?.finishedAt),
  };
}
