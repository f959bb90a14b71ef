import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobs, type Jobs } from '../../jobs/jobs.ts';
import { testLogger } from '../support/app.ts';
import { startJobsTestBed, uniquePrefix, type JobsTestBed } from '../jobs/support.ts';

let bed: JobsTestBed;
const workers: Jobs[] = [];

beforeAll(async () => {
  bed = await startJobsTestBed();
});
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  await bed.close();
});

describe('when a countdown was committed but its web process died before queueing the job', () => {
  it('then the workers that start next queue one job for it, and it ends once at the stored deadline', async () => {
    const { rows } = await bed.pool.query<{ deadline: Date }>(
      `UPDATE maintenance SET state = 'countdown', deadline = date_trunc('milliseconds', now()) + interval '2 seconds',
              started_at = now(), version = version + 1
        RETURNING deadline`,
    );
    const deadline = rows[0]!.deadline;

    // Two workers start together: between them, one job for the orphaned countdown.
    workers.push(
      ...(await Promise.all(
        ['a', 'b'].map((label) =>
          startJobs({
            role: 'worker',
            pool: bed.pool,
            logger: testLogger,
            deps: bed.deps,
            processName: uniquePrefix(label),
            processEvery: 500,
          }),
        ),
      )),
    );

    await expect
      .poll(async () => (await bed.pool.query<{ state: string }>('SELECT state FROM maintenance')).rows[0]!.state, { timeout: 20_000 })
      .toBe('active');
    const after = await bed.pool.query<{ deadline: Date; jobs: string }>(
      `SELECT deadline, (SELECT count(*) FROM agenda_jobs WHERE name = 'maintenance-countdown') AS jobs FROM maintenance`,
    );
    expect(after.rows[0]!.deadline.getTime()).toBe(deadline.getTime());
    expect(Number(after.rows[0]!.jobs)).toBe(1);
    // Workers send visitors nothing about maintenance: each web process tells its own tabs.
    expect(bed.emitter.emits.filter((emit) => emit.event === 'maintenance')).toEqual([]);
  });
});
