import type { Agenda, Job } from 'agenda';
import type { Logger } from '../server/logger.ts';
import { systemClock } from '../server/db/database-clock.ts';
import { FLASH_KEY } from '../server/maintenance/maintenance-events.ts';
import { createMaintenanceView, type MaintenanceView } from '../server/maintenance/maintenance-state.ts';
import { createMaintenanceStore, type MaintenanceSnapshot, type MaintenanceStore } from '../server/maintenance/maintenance-store.ts';
import type { JobDefinition, JobDeps } from './job-definition.ts';

/**
 * maintenance-countdown: drives one countdown, started by POST /ops/api/maintenance, to its
 * stored deadline, and at zero switches maintenance on with one conditional UPDATE and clears
 * the countdown's flashes.
 *
 * The job sends no ticks: every web process ticks its own sockets from the deadline it knows
 * (server/maintenance/countdown-ticker.ts), on the database's clock, so a worker that dies
 * costs no visitor a second. A web process also tries the same conditional UPDATE at the
 * deadline, so the transition is never late for want of a live worker.
 *
 * Surviving workers: the job touches its lock every second, well inside a short lock
 * lifetime, so if its worker dies another worker takes the job over within seconds and goes
 * on from the stored deadline (at once to the end, if the deadline has passed meanwhile).
 * The state, not the job, is the truth: the run follows the row (LISTEN maintenance_changed)
 * and ends as soon as the countdown it drives is no longer the stored one (cancelled, or
 * ended by another process). Ending is conditional on the state still being this countdown,
 * so maintenance begins once, at the deadline, whoever ends it.
 */

/** The Agenda job that drives a countdown; its data is `CountdownJobData`. */
export const MAINTENANCE_COUNTDOWN_JOB = 'maintenance-countdown';

export interface CountdownJobData {
  /** ISO time, whole milliseconds: the stored deadline the job drives the countdown to. */
  deadline: string;
  /** Written by earlier versions, when the job sent the ticks; ignored. */
  sentSeconds?: number;
}

/** What the maintenance module is given to queue a countdown's job (MaintenanceDeps.queueCountdown). */
export function countdownQueue(agenda: Pick<Agenda, 'now'>): (deadline: Date) => Promise<void> {
  return async (deadline) => {
    await agenda.now<CountdownJobData>(MAINTENANCE_COUNTDOWN_JOB, { deadline: deadline.toISOString() });
  };
}

/** A worker that stops beating for this long is presumed dead and its countdown taken over. */
export const COUNTDOWN_LOCK_LIFETIME_MS = 5000;
/** Retries of a run that failed (it lost its lock, or could not hand over): one a second. */
const RETRY_DELAY_MS = 1000;
const MAX_RETRIES = 60;
/** After a failed write of the state, the next try. */
const DATABASE_RETRY_MS = 1000;

export interface CountdownJobOptions {
  /** Tests shorten it to see a takeover within a short countdown. At least 2 s (the job touches every second). */
  lockLifetimeMs?: number;
}

export function createMaintenanceCountdownJob(options: CountdownJobOptions = {}): JobDefinition {
  const lockLifetime = options.lockLifetimeMs ?? COUNTDOWN_LOCK_LIFETIME_MS;
  if (lockLifetime < 2000) throw new RangeError('lockLifetimeMs must be at least 2000: the countdown touches its lock every second');
  return {
    name: MAINTENANCE_COUNTDOWN_JOB,
    operable: false,
    // deps.stopping (aborted when the worker begins to stop, before Agenda's drain): a running
    // countdown then hands itself over at once, as a new job of the same deadline that another
    // worker (or this worker's successor) picks up, instead of holding the drain to its deadline.
    define(agenda: Agenda, deps: JobDeps) {
      agenda.define<CountdownJobData>(MAINTENANCE_COUNTDOWN_JOB, (job) => runCountdown(job, deps), {
        lockLifetime,
        // A run that throws is run again a second later, from the stored deadline: a
        // countdown never ends with its job merely failed.
        backoff: ({ attempt }) => (attempt <= MAX_RETRIES ? RETRY_DELAY_MS : null),
      });
    },
    resume: resumeOrphanedCountdown,
  };
}

/**
 * A web process that died between committing a countdown and queueing its job leaves a
 * countdown that no worker would ever drive (no ticks, never `active`). A starting worker
 * queues one from the stored deadline, unless a job for it is already pending or running.
 * Under an advisory lock, so workers starting together queue it once.
 */
async function resumeOrphanedCountdown(agenda: Agenda, deps: JobDeps): Promise<void> {
  const client = await deps.pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [MAINTENANCE_COUNTDOWN_JOB]);
    const { rows } = await client.query<{ deadline: Date }>(`SELECT deadline FROM maintenance WHERE state = 'countdown'`);
    const deadline = rows[0]?.deadline;
    if (!deadline) return;
    const { jobs } = await agenda.queryJobs({ name: MAINTENANCE_COUNTDOWN_JOB });
    if (jobs.some((job) => job.state !== 'completed' && job.state !== 'failed')) return;
    await agenda.now<CountdownJobData>(MAINTENANCE_COUNTDOWN_JOB, { deadline: deadline.toISOString() });
    deps.logger.warn({ deadline }, 'a countdown had no job (its web process died while starting it); queued one');
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [MAINTENANCE_COUNTDOWN_JOB]).catch(() => undefined);
    client.release();
  }
}

export const maintenanceCountdownJob: JobDefinition = createMaintenanceCountdownJob();

/** Timed waits that end early on `wake()`: a change of state, or the worker stopping. */
function createWaker() {
  let wakeUp: (() => void) | undefined;
  return {
    wait(ms: number): Promise<void> {
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          wakeUp = undefined;
          resolve();
        };
        const timer = setTimeout(done, Math.max(0, ms));
        wakeUp = done;
      });
    },
    wake: () => wakeUp?.(),
  };
}

type Waker = ReturnType<typeof createWaker>;

const drives = (snapshot: MaintenanceSnapshot, deadline: Date) =>
  snapshot.state === 'countdown' && snapshot.deadline?.getTime() === deadline.getTime();

/**
 * One run: the state comes from a view of the maintenance row (this process's own, or one
 * this run holds: LISTEN, with a poll behind it), so a cancel wakes the run at once.
 */
async function runCountdown(job: Job<CountdownJobData>, deps: JobDeps): Promise<void> {
  const deadline = new Date(job.attrs.data?.deadline ?? Number.NaN);
  const logger = deps.logger.child({ job: MAINTENANCE_COUNTDOWN_JOB, jobId: String(job.attrs._id) });
  if (Number.isNaN(deadline.getTime())) {
    logger.error({ data: job.attrs.data }, 'maintenance countdown job without a valid deadline; nothing to do');
    return;
  }
  const ownView = deps.maintenanceView ? undefined : createMaintenanceView({ pool: deps.pool, logger, clock: deps.clock ?? systemClock });
  const view = deps.maintenanceView ?? ownView!;
  const waker = createWaker();
  const unsubscribe = view.onChange(() => waker.wake());
  deps.stopping?.addEventListener('abort', waker.wake);
  try {
    // A failure here fails the run, and Agenda runs it again a second later.
    if (ownView) await ownView.start();
    else await view.refresh();
    await drive(job, deps, { view, waker, deadline, logger });
  } finally {
    unsubscribe();
    deps.stopping?.removeEventListener('abort', waker.wake);
    await ownView?.close();
  }
}

interface Run {
  view: Pick<MaintenanceView, 'current' | 'refresh'>;
  waker: Waker;
  deadline: Date;
  logger: Logger;
}

/** How often a waiting run touches its lock (well inside the lock lifetime, which is at least 2 s). */
const TOUCH_EVERY_MS = 1000;

async function drive(job: Job<CountdownJobData>, deps: JobDeps, run: Run): Promise<void> {
  const { view, waker, deadline, logger } = run;
  const clock = deps.clock ?? systemClock;
  const store = createMaintenanceStore(deps.pool);

  for (;;) {
    if (deps.stopping?.aborted) return handOver(job, deadline, logger);
    // Agenda marks the run cancelled when its lock outlived the lock lifetime (this process
    // stalled): another worker may already drive the countdown. Failing makes Agenda run it
    // again shortly, from the stored state, rather than end it unfinished.
    const cancelled = job.getCanceledMessage();
    if (cancelled) throw new Error(`the countdown's lock expired (${String(cancelled)}); it will be resumed from the stored deadline`);

    const snapshot = view.current();
    if (!drives(snapshot, deadline)) return settle(snapshot, deadline, deps, logger);

    const msLeft = deadline.getTime() - clock.now();
    if (msLeft <= 0) {
      const ended = await finish(store, deadline, deps, logger);
      if (ended) return;
      if (ended === false)
        await view.refresh().catch(() => undefined); // changed under us: learn how
      else await waker.wait(DATABASE_RETRY_MS);
      continue;
    }
    // Until the deadline, touching the lock every second so that a dead worker is taken
    // over within the lock lifetime; a state change or the worker stopping wakes it early.
    await waker.wait(Math.min(msLeft, TOUCH_EVERY_MS));
    try {
      await job.touch();
    } catch (error) {
      // A database hiccup: the lock lives on for its lifetime, and the next wait touches again.
      logger.debug({ err: error }, 'maintenance countdown: could not renew the lock');
    }
  }
}

/**
 * Zero: countdown → active (only if still this countdown; a web process may have won it
 * already), then the maintenance flashes cleared. Every web process tells its own visitors
 * as its view hears of the change. True: ended here; false: someone else changed the state
 * first; undefined: the database failed.
 */
async function finish(store: MaintenanceStore, deadline: Date, deps: JobDeps, logger: Logger): Promise<boolean | undefined> {
  let ended: MaintenanceSnapshot | undefined;
  try {
    ended = await store.finish(deadline);
  } catch (error) {
    logger.debug({ err: error }, 'maintenance countdown: cannot switch maintenance on; trying again');
    return undefined;
  }
  if (!ended) return false;
  logger.info({ deadline }, 'maintenance mode on');
  // Nobody sees a flash while maintenance is on. Should this fail, or the worker die first,
  // the run is retried or taken over, finds maintenance on with its deadline, and clears them
  // then (settle); ending maintenance clears them too.
  await deps.sessions.clearFlashKey(FLASH_KEY);
  return true;
}

/** The countdown this run drives is no longer the stored one. */
async function settle(snapshot: MaintenanceSnapshot, deadline: Date, deps: JobDeps, logger: Logger): Promise<void> {
  if (snapshot.state === 'active' && snapshot.deadline?.getTime() === deadline.getTime()) {
    // Ended by a web process at the deadline, or by a run that may have died before it
    // cleared the flashes: clearing is idempotent.
    await deps.sessions.clearFlashKey(FLASH_KEY);
  }
  // Cancelled (whoever cancelled told the visitors), or a newer countdown, driven by its own job.
  logger.info({ deadline, state: snapshot.state }, 'maintenance countdown: no longer running; job done');
}

/** This worker is stopping: the countdown goes on as a new job, which another worker picks up at once. */
async function handOver(job: Job<CountdownJobData>, deadline: Date, logger: Logger): Promise<void> {
  await job.agenda.now<CountdownJobData>(MAINTENANCE_COUNTDOWN_JOB, { deadline: deadline.toISOString() });
  logger.info({ deadline }, 'maintenance countdown handed over: this worker is stopping');
}
