import type { Agenda, Job } from 'agenda';
import type { Pool } from '../server/db/pool.ts';

/**
 * Agenda v6 keeps no result for a run, so each run's result goes to job_results (005),
 * keyed by Agenda's job id: "run now" answers with it, and the jobs list shows the last one.
 * That table is in PostgreSQL whichever backend Agenda uses.
 */

/** How long results are kept: a week of one-minute rounds is about 10,000 rows. */
export const RESULT_RETENTION_DAYS = 7;

export interface JobRunOptions {
  /**
   * How long a run may go without `job.touch()` before Agenda counts it as dead and lets
   * another worker take it. Long runs touch well inside this (see session-cleanup.ts).
   */
  lockLifetimeMs?: number;
}

/**
 * Defines `name` on `agenda` with `run`, storing what `run` returns as the run's result.
 *
 * One run of a job name at a time per process (concurrency and lockLimit 1); across
 * processes, Agenda's lock on the job row means one occurrence runs in one place.
 */
export function defineJobWithResult<R>(
  agenda: Agenda,
  pool: Pool,
  name: string,
  run: (job: Job) => Promise<R>,
  options: JobRunOptions = {},
): void {
  // One parameter: Agenda treats a two-parameter handler as (job, done) callback style.
  const handler = async (job: Job): Promise<void> => {
    const result = await run(job);
    await saveJobResult(pool, name, String(job.attrs._id), result);
  };
  agenda.define(name, handler, { concurrency: 1, lockLimit: 1, lockLifetime: options.lockLifetimeMs ?? 60_000 });
}

/** Stores one run's result, and forgets results older than the retention in the same statement. */
export async function saveJobResult(pool: Pool, name: string, jobId: string, result: unknown): Promise<void> {
  await pool.query(
    `WITH expired AS (
       DELETE FROM job_results WHERE job_name = $2 AND finished_at < now() - make_interval(days => $4)
     )
     INSERT INTO job_results (job_id, job_name, result) VALUES ($1, $2, $3)`,
    [jobId, name, JSON.stringify(result ?? null), RESULT_RETENTION_DAYS],
  );
}

/** The result of the latest run of one job occurrence (a run-now job has exactly one). */
export async function readJobResult(pool: Pool, jobId: string): Promise<{ result: unknown } | undefined> {
  const { rows } = await pool.query<{ result: unknown }>(
    'SELECT result FROM job_results WHERE job_id = $1 ORDER BY finished_at DESC LIMIT 1',
    [jobId],
  );
  return rows[0];
}

export interface LastResult {
  result: unknown;
  finishedAt: Date;
}

/** The latest result of each of these job names (one index scan per name). */
export async function lastJobResults(pool: Pool, names: readonly string[]): Promise<Map<string, LastResult>> {
  const { rows } = await pool.query<{ job_name: string; result: unknown; finished_at: Date }>(
    `SELECT n.job_name, r.result, r.finished_at
       FROM unnest($1::text[]) AS n(job_name)
       CROSS JOIN LATERAL (
         SELECT result, finished_at FROM job_results j
          WHERE j.job_name = n.job_name ORDER BY finished_at DESC LIMIT 1
       ) r`,
    [names],
  );
  return new Map(rows.map((row) => [row.job_name, { result: row.result, finishedAt: row.finished_at }]));
}
