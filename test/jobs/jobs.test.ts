import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { jobDefinitions } from '../../jobs/registry.ts';
import { startJobs, type JobInfo, type Jobs } from '../../jobs/jobs.ts';
import type { JobDefinition } from '../../jobs/job-definition.ts';
import { defineJobWithResult } from '../../jobs/job-results.ts';
import { createAgendashPage, createJobRoutes } from '../../jobs/job-routes.ts';
import { promotionRoundJob } from '../../jobs/promotion-round.ts';
import { sessionCleanupJob } from '../../jobs/session-cleanup.ts';
import { startTestApp, TEST_OPS_TOKEN, testLogger, type TestApp } from '../support/app.ts';
import { opsHeaders } from '../support/http.ts';
import { seedSessions, startJobsTestBed, uniquePrefix, type JobsTestBed } from './support.ts';

const failingJob: JobDefinition = {
  name: 'always-fails',
  operable: true,
  define(agenda, deps) {
    defineJobWithResult(agenda, deps.pool, 'always-fails', async () => {
      throw new Error('the test job fails on purpose');
    });
  },
};

/** Like the maintenance countdown: defined, but started by its own endpoint. */
const notOperableJob: JobDefinition = {
  name: 'countdown-like',
  operable: false,
  define(agenda) {
    agenda.define('countdown-like', async () => undefined);
  },
};

const testDefinitions = [promotionRoundJob, sessionCleanupJob, failingJob, notOperableJob];

async function schedules(bed: JobsTestBed): Promise<Array<{ name: string; repeat_interval: string; next_run_at: Date }>> {
  const { rows } = await bed.pool.query(`SELECT name, repeat_interval, next_run_at FROM agenda_jobs WHERE type = 'single' ORDER BY name`);
  return rows;
}

describe('when several workers start together on a new database', () => {
  let bed: JobsTestBed;
  beforeAll(async () => {
    bed = await startJobsTestBed();
  });
  afterAll(() => bed.close());

  const worker = (label: string) =>
    startJobs({ role: 'worker', pool: bed.pool, logger: testLogger, deps: bed.deps, processName: uniquePrefix(label), processEvery: 500 });

  it('then each default schedule is created exactly once, and a restart neither moves it nor brings back one ops removed', async () => {
    const started = Date.now();
    const first = await Promise.all([worker('w1'), worker('w2'), worker('w3')]);
    const created = await schedules(bed);
    expect(created.map(({ name, repeat_interval }) => ({ name, repeat_interval }))).toEqual([
      { name: 'promotion-round', repeat_interval: '1 minute' },
      { name: 'session-cleanup', repeat_interval: '10 minutes' },
    ]);
    // skipImmediate: the first run is one interval after the first start.
    const cleanupNext = created.find((row) => row.name === 'session-cleanup')!.next_run_at.getTime();
    expect(cleanupNext).toBeGreaterThanOrEqual(started + 10 * 60_000 - 1000);

    await first[0]!.unschedule('promotion-round');
    await Promise.all(first.map((jobs) => jobs.stop()));

    const again = await Promise.all([worker('w4'), worker('w5')]);
    try {
      const after = await schedules(bed);
      expect(after.map((row) => row.name)).toEqual(['session-cleanup']);
      expect(after[0]!.next_run_at.getTime()).toBe(cleanupNext);
      const { rows } = await bed.pool.query('SELECT job_name FROM job_default_schedules ORDER BY job_name');
      expect(rows).toEqual([{ job_name: 'promotion-round' }, { job_name: 'session-cleanup' }]);
    } finally {
      await Promise.all(again.map((jobs) => jobs.stop()));
    }
    // Stopped workers leave nothing locked behind.
    const { rows: locked } = await bed.pool.query('SELECT name FROM agenda_jobs WHERE locked_at IS NOT NULL');
    expect(locked).toEqual([]);
  });
});

describe('the ops jobs API', () => {
  let bed: JobsTestBed;
  let app: TestApp;
  let jobs: Jobs;
  const opsApi = express.Router();
  const agendash = express.Router();

  beforeAll(async () => {
    app = await startTestApp({ extend: () => ({ opsApi: [opsApi], opsPages: [{ path: '/jobs', handler: agendash }] }) });
    bed = await startJobsTestBed();
    jobs = await startJobs({
      role: 'all',
      pool: bed.pool,
      logger: testLogger,
      deps: bed.deps,
      processName: uniquePrefix('all'),
      processEvery: 200,
      definitions: testDefinitions,
      runTimeoutMs: 20_000,
    });
    opsApi.use(createJobRoutes({ jobs }));
    const page = createAgendashPage(jobs);
    agendash.use(page.handler);
  });
  afterAll(async () => {
    await jobs?.stop();
    await bed?.close();
    await app?.close();
  });

  async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${app.url}/ops/api${path}`, {
      method,
      headers: { ...opsHeaders(TEST_OPS_TOKEN), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  }
  const job = async (name: string) => (await api<{ jobs: JobInfo[] }>('GET', '/jobs')).body.jobs.find((j) => j.name === name)!;

  it('then GET /jobs lists every job with its schedule', async () => {
    const { status, body } = await api<{ jobs: JobInfo[] }>('GET', '/jobs');
    expect(status).toBe(200);
    expect(body.jobs.map((j) => j.name)).toEqual(testDefinitions.map((d) => d.name));
    expect(body.jobs.find((j) => j.name === 'promotion-round')).toMatchObject({
      operable: true,
      every: '1 minute',
      nextRunAt: expect.any(String),
    });
    expect(body.jobs.find((j) => j.name === 'countdown-like')).toMatchObject({ operable: false, every: null });
  });

  it('then running session-cleanup now answers with what it removed, and the cascade leaves nothing behind', async () => {
    const prefix = uniquePrefix('expired');
    const expired = await seedSessions(bed, prefix, 37, { expired: true, active: true });
    const live = await seedSessions(bed, uniquePrefix('live'), 5);
    const owned = [...expired.slice(0, 20), ...live];
    await bed.pool.query('INSERT INTO carts (session_sid) SELECT unnest($1::text[])', [owned]);
    await bed.pool.query(`INSERT INTO cart_items (session_sid, sku, qty) SELECT unnest($1::text[]), 'widget', 2`, [owned]);
    await bed.pool.query(
      `INSERT INTO flashes (session_sid, key, id, message) SELECT unnest($1::text[]), 'notice', gen_random_uuid(), 'hi'`,
      [[...expired, ...live]],
    );
    const promotion = await bed.promotions.create({ name: 'Gone with the session', callToAction: 'Hi', active: true, weight: 1 });
    await bed.pool.query('INSERT INTO promotion_deliveries (session_sid, promotion_id) SELECT unnest($1::text[]), $2', [
      expired,
      promotion.id,
    ]);
    await bed.pool.query('UPDATE promotion_stats SET delivered = 37 WHERE promotion_id = $1', [promotion.id]);

    const { status, body } = await api<{ name: string; jobId: string; result: unknown }>('POST', '/jobs/session-cleanup/run');

    expect(status).toBe(200);
    expect(body).toMatchObject({ name: 'session-cleanup', jobId: expect.any(String), result: { sessions: 37, carts: 20 } });
    const left = await bed.pool.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM session WHERE sid = ANY($1)) + (SELECT count(*) FROM carts WHERE session_sid = ANY($1))
            + (SELECT count(*) FROM cart_items WHERE session_sid = ANY($1)) + (SELECT count(*) FROM flashes WHERE session_sid = ANY($1))
            + (SELECT count(*) FROM presence WHERE session_sid = ANY($1)) + (SELECT count(*) FROM promotion_deliveries WHERE session_sid = ANY($1)) AS n`,
      [expired],
    );
    expect(Number(left.rows[0]!.n)).toBe(0);
    const kept = await bed.pool.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM session WHERE sid = ANY($1)) + (SELECT count(*) FROM carts WHERE session_sid = ANY($1))
            + (SELECT count(*) FROM cart_items WHERE session_sid = ANY($1)) + (SELECT count(*) FROM flashes WHERE session_sid = ANY($1)) AS n`,
      [live],
    );
    expect(Number(kept.rows[0]!.n)).toBe(20);
    // Analytics outlive the sessions.
    expect(await bed.promotions.stats(promotion.id)).toMatchObject({ delivered: 37 });
    expect(await job('session-cleanup')).toMatchObject({
      lastResult: { sessions: 37, carts: 20 },
      failReason: null,
      lastFinishedAt: expect.any(String),
    });
  });

  it('then a schedule can be set, read back and removed', async () => {
    const set = await api<JobInfo>('PUT', '/jobs/session-cleanup/schedule', { every: '  30 Seconds ' });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ name: 'session-cleanup', every: '30 seconds' });
    const next = Date.parse(set.body.nextRunAt!);
    expect(next).toBeGreaterThan(Date.now() + 20_000);

    expect((await api<JobInfo>('PUT', '/jobs/session-cleanup/schedule', { every: '*/5 * * * *' })).body.every).toBe('*/5 * * * *');

    const removed = await api<JobInfo>('DELETE', '/jobs/session-cleanup/schedule');
    expect(removed).toMatchObject({ status: 200, body: { name: 'session-cleanup', every: null } });
    expect((await schedules(bed)).map((row) => row.name)).not.toContain('session-cleanup');
    // Removing it again is fine.
    expect((await api('DELETE', '/jobs/session-cleanup/schedule')).status).toBe(200);
  });

  it('then a scheduled job runs by itself and its result shows in the list', async () => {
    await api('PUT', '/jobs/promotion-round/schedule', { every: '1 second' });
    await vi.waitFor(async () => expect((await job('promotion-round')).lastResult).toEqual({ sessions: 0, promotions: {} }), {
      timeout: 15_000,
      interval: 200,
    });
    await api('DELETE', '/jobs/promotion-round/schedule');
  });

  const accepted: Array<[string, string]> = [
    ['1 minute', '1 minute'],
    ['2 Hours and 15 minutes', '2 hours and 15 minutes'],
    ['1 hour, 30 minutes', '1 hour, 30 minutes'],
    ['1.5 days', '1.5 days'],
    ['0 3 * * *', '0 3 * * *'],
    ['*/10 * * * * *', '*/10 * * * * *'],
  ];
  for (const [every, stored] of accepted) {
    it(`then the schedule ${JSON.stringify(every)} is accepted as ${JSON.stringify(stored)}`, async () => {
      const response = await api<JobInfo>('PUT', '/jobs/promotion-round/schedule', { every });
      expect(response).toMatchObject({ status: 200, body: { every: stored } });
      await api('DELETE', '/jobs/promotion-round/schedule');
    });
  }

  for (const every of [
    'nonsense',
    '1 minute banana',
    'a minute',
    '10 milliseconds',
    '0 seconds',
    '0.5 seconds',
    '5000',
    '* * * * * * *',
    '61 * * * *',
    '',
  ]) {
    it(`then the schedule ${JSON.stringify(every)} is a 400`, async () => {
      const response = await api<{ error: { code: string; message: string } }>('PUT', '/jobs/promotion-round/schedule', { every });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('VALIDATION_FAILED');
      expect(response.body.error.message).toMatch(/^every: /);
    });
  }

  it('then a schedule body without "every" is a 400', async () => {
    expect((await api('PUT', '/jobs/promotion-round/schedule', { interval: '1 minute' })).status).toBe(400);
  });

  it('then an unknown job is a 404 and the countdown-like job a 400', async () => {
    expect(await api('POST', '/jobs/no-such-job/run')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(await api('PUT', '/jobs/no-such-job/schedule', { every: '1 minute' })).toMatchObject({ status: 404 });
    expect(await api('POST', '/jobs/countdown-like/run')).toMatchObject({ status: 400, body: { error: { code: 'JOB_NOT_OPERABLE' } } });
    expect(await api('DELETE', '/jobs/countdown-like/schedule')).toMatchObject({
      status: 400,
      body: { error: { code: 'JOB_NOT_OPERABLE' } },
    });
  });

  it('then a failing run answers 500 JOB_FAILED with its reason, and the list shows it', async () => {
    const response = await api<{ error: { code: string; message: string } }>('POST', '/jobs/always-fails/run');
    expect(response.status).toBe(500);
    expect(response.body.error).toEqual({ code: 'JOB_FAILED', message: 'always-fails failed: the test job fails on purpose' });
    expect(await job('always-fails')).toMatchObject({ failReason: 'the test job fails on purpose', lastResult: null });
  });

  it('then Agendash is served at /ops/jobs behind ops access, and HTTP Basic no longer opens it', async () => {
    const anonymous = await fetch(`${app.url}/ops/jobs/`, { headers: { accept: 'text/html' } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBeNull();
    expect(await anonymous.text()).toContain('href="/ops"');
    const basic = { authorization: `Basic ${Buffer.from(`ops:${TEST_OPS_TOKEN}`).toString('base64')}` };
    expect((await fetch(`${app.url}/ops/jobs/`, { headers: basic })).status).toBe(401);
    const page = await fetch(`${app.url}/ops/jobs/`, { headers: opsHeaders(TEST_OPS_TOKEN) });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/html/);
    const stats = await fetch(`${app.url}/ops/jobs/api/stats`, { headers: opsHeaders(TEST_OPS_TOKEN) });
    expect(stats.status).toBe(200);
  });
});

describe('when a web process runs a job now and a worker runs it', () => {
  let bed: JobsTestBed;
  beforeAll(async () => {
    bed = await startJobsTestBed();
  });
  afterAll(() => bed.close());

  it('then the web process gets the result the worker stored, and never runs the job itself', async () => {
    const workerName = uniquePrefix('worker');
    const worker = await startJobs({
      role: 'worker',
      pool: bed.pool,
      logger: testLogger,
      deps: bed.deps,
      processName: workerName,
      processEvery: 60_000,
    });
    const web = await startJobs({ role: 'web', pool: bed.pool, logger: testLogger, deps: bed.deps, processName: uniquePrefix('web') });
    try {
      await seedSessions(bed, uniquePrefix('old'), 3, { expired: true });
      // The worker polls once a minute here: only the web process's notification gets it going.
      const run = await web.runNow('session-cleanup');
      expect(run.result).toEqual({ sessions: 3, carts: 0 });
      const { rows } = await bed.pool.query('SELECT last_modified_by FROM agenda_jobs WHERE id = $1', [run.jobId]);
      expect(rows[0].last_modified_by).toBe(workerName);
      expect(Object.keys(web.agenda.definitions)).toEqual([]);
    } finally {
      await web.stop();
      await worker.stop();
    }
  });

  it('then a failure in one worker reaches the others as an event they survive', async () => {
    const start = (label: string) =>
      startJobs({
        role: 'worker',
        pool: bed.pool,
        logger: testLogger,
        deps: bed.deps,
        processName: uniquePrefix(label),
        processEvery: 100,
        definitions: [failingJob],
      });
    const [a, b] = await Promise.all([start('fail-a'), start('fail-b')]);
    try {
      const heard = new Promise((resolve) => {
        a.agenda.once('fail', (...args: unknown[]) => resolve(args));
        b.agenda.once('fail', (...args: unknown[]) => resolve(args));
      });
      await expect(a.runNow('always-fails')).rejects.toMatchObject({ code: 'JOB_FAILED' });
      await heard;
      // The other worker hears it as a remote notification shortly after.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it('then without any worker, run-now gives up with 504 JOB_TIMEOUT', async () => {
    const web = await startJobs({
      role: 'web',
      pool: bed.pool,
      logger: testLogger,
      deps: bed.deps,
      processName: uniquePrefix('lonely'),
      runTimeoutMs: 1500,
    });
    try {
      await expect(web.runNow('promotion-round')).rejects.toMatchObject({ code: 'JOB_TIMEOUT', status: 504 });
    } finally {
      await web.stop();
    }
  });
});

describe('when two workers share a repeating job that outlasts its interval', () => {
  let bed: JobsTestBed;
  beforeAll(async () => {
    bed = await startJobsTestBed();
    await bed.pool.query('CREATE TABLE slow_runs (job_id text, worker text, started timestamptz, finished timestamptz)');
  });
  afterAll(() => bed.close());

  /** Takes 700 ms, touching halfway; records which occurrence ran, where and when. */
  const slowJob = (worker: string): JobDefinition => ({
    name: 'slow-job',
    operable: true,
    define(agenda, deps) {
      defineJobWithResult(
        agenda,
        deps.pool,
        'slow-job',
        async (job) => {
          const started = new Date();
          await new Promise((resolve) => setTimeout(resolve, 350));
          await job.touch(50);
          await new Promise((resolve) => setTimeout(resolve, 350));
          await deps.pool.query('INSERT INTO slow_runs VALUES ($1, $2, $3, now())', [String(job.attrs._id), worker, started]);
          return { worker };
        },
        { lockLifetimeMs: 5_000 },
      );
    },
  });

  it('then no two runs of one occurrence overlap, and stopping the workers waits for their runs', async () => {
    const start = (label: string) =>
      startJobs({
        role: 'worker',
        pool: bed.pool,
        logger: testLogger,
        deps: bed.deps,
        processName: label,
        processEvery: 100,
        definitions: [slowJob(label)],
      });
    const [a, b] = await Promise.all([start(uniquePrefix('a')), start(uniquePrefix('b'))]);
    try {
      await a.schedule('slow-job', '1 second');
      await vi.waitFor(
        async () => {
          const { rows } = await bed.pool.query('SELECT count(*)::int AS n FROM slow_runs');
          expect(rows[0].n).toBeGreaterThanOrEqual(4);
        },
        { timeout: 20_000, interval: 200 },
      );
      await a.unschedule('slow-job');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    const { rows: locked } = await bed.pool.query('SELECT name FROM agenda_jobs WHERE locked_at IS NOT NULL');
    expect(locked).toEqual([]);
    const { rows: runs } = await bed.pool.query<{ job_id: string; started: Date; finished: Date }>(
      'SELECT * FROM slow_runs ORDER BY started',
    );
    expect(new Set(runs.map((run) => run.job_id)).size).toBe(1);
    for (let i = 1; i < runs.length; i += 1) expect(runs[i]!.started.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.finished.getTime());
  });
});

describe('the registry', () => {
  it('then every job has a unique name and the operable ones a default schedule', () => {
    const names = jobDefinitions.map((definition) => definition.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['promotion-round', 'session-cleanup']));
    for (const definition of jobDefinitions.filter((d) => d.operable)) expect(definition.defaultEvery).toBeTruthy();
  });
});
