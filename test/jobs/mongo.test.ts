import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobs, type Jobs } from '../../jobs/jobs.ts';
import { testLogger } from '../support/app.ts';
import { seedSessions, startJobsTestBed, uniquePrefix, type JobsTestBed } from './support.ts';

/**
 * The jobs suite with Agenda's jobs in MongoDB (MONGODB_URL): sessions, results and schedule
 * markers stay in PostgreSQL. No MongoDB server can be installed on our machines, so without
 * MONGODB_URL these tests are skipped, and say so.
 */
const mongodbUrl = process.env.MONGODB_URL;
const SKIPPED = 'skipped: MONGODB_URL is not set, and no MongoDB server can be installed here';
const title = (name: string) => (mongodbUrl ? name : `${name} (${SKIPPED})`);

if (!mongodbUrl) console.warn(`test/jobs/mongo.test.ts: ${SKIPPED}; set MONGODB_URL=mongodb://… to run it.`);

describe.skipIf(!mongodbUrl)('when Agenda keeps its jobs in MongoDB', () => {
  let bed: JobsTestBed;
  let jobs: Jobs;

  beforeAll(async () => {
    bed = await startJobsTestBed();
    jobs = await startJobs({
      role: 'all',
      pool: bed.pool,
      logger: testLogger,
      mongodbUrl: mongodbUrl!,
      deps: bed.deps,
      processName: uniquePrefix('mongo'),
      processEvery: 200,
      runTimeoutMs: 20_000,
    });
    // Each run starts from no schedules of ours (the database may be shared between runs).
    await jobs.agenda.cancel({ names: ['promotion-round', 'session-cleanup'] });
    await bed.pool.query('DELETE FROM job_default_schedules');
  });
  afterAll(async () => {
    await jobs?.stop();
    await bed?.close();
  });

  it(title('then session-cleanup runs now and answers with its result'), async () => {
    await seedSessions(bed, uniquePrefix('old'), 4, { expired: true });
    const run = await jobs.runNow('session-cleanup');
    expect(run.result).toEqual({ sessions: 4, carts: 0 });
    expect(run.jobId).toMatch(/^[0-9a-f]{24}$/);
  });

  it(title('then schedules are set, listed and removed'), async () => {
    const set = await jobs.schedule('promotion-round', '2 minutes');
    expect(set).toMatchObject({ every: '2 minutes', nextRunAt: expect.any(String) });
    const listed = await jobs.list();
    expect(listed.find((job) => job.name === 'promotion-round')).toMatchObject({ every: '2 minutes' });
    expect(listed.find((job) => job.name === 'session-cleanup')).toMatchObject({ lastResult: { sessions: 4, carts: 0 } });
    expect((await jobs.unschedule('promotion-round')).every).toBeNull();
  });
});

// Shown in every run, so a report never reads "all green" without saying what did not run.
describe.runIf(!mongodbUrl)('the MongoDB job suite', () => {
  it.skip(`was ${SKIPPED}`, () => undefined);
});
