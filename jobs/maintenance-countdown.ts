import type { Agenda, Job } from 'agenda';
import type { Logger } from '../server/logger.ts';
import { FLASH_KEY, countdownEvent, emitToVisitors, stateEvent } from '../server/maintenance/maintenance-events.ts';
import { MAINTENANCE_COUNTDOWN_JOB, type CountdownJobData } from '../server/maintenance/maintenance.ts';
import { createMaintenanceView, type MaintenanceView } from '../server/maintenance/maintenance-state.ts';
import { createMaintenanceStore, type MaintenanceSnapshot, type MaintenanceStore } from '../server/maintenance/maintenance-store.ts';
import type { JobDefinition, JobDeps } from './job-definition.ts';

/**
 * maintenance-countdown: drives one countdown, started by POST /ops/api/maintenance, to its
 * stored deadline. Every second, on the second as counted back from the deadline
 * (deadline − k s, each wait computed afresh from the clock, so nothing drifts), it sends
 * `{state: 'countdown', secondsLeft: k}` to every visitor; at zero it switches maintenance on
 * with one conditional UPDATE and tells every visitor `{state: 'active'}`.
 *
 * Surviving workers: the job touches its lock every second, well inside a short lock
 * lifetime, so if its worker dies another worker takes the job over within seconds and goes
 * on from the stored deadline (at once to the end, if the deadline has passed meanwhile).
 * The state, not the job, is the truth: the run follows the row (LISTEN maintenance_changed)
 * and ends as soon as the countdown it drives is no longer the stored one (cancelled, or
 * ended by another worker). Ending is conditional on the state still being this countdown,
 * so two workers can never both end it: maintenance begins once, at the same deadline.
 */

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
 * One run: the state comes from a view of the maintenance row that this run holds (LISTEN,
 * with a poll behind it), so a tick costs no query and a cancel wakes the run at once.
 */
async function runCountdown(job: Job<CountdownJobData>, deps: JobDeps): Promise<void> {
  const deadline = new Date(job.attrs.data?.deadline ?? Number.NaN);
  const logger = deps.logger.child({ job: MAINTENANCE_COUNTDOWN_JOB, jobId: String(job.attrs._id) });
  if (Number.isNaN(deadline.getTime())) {
    logger.error({ data: job.attrs.data }, 'maintenance countdown job without a valid deadline; nothing to do');
    return;
  }
  const view = createMaintenanceView({ pool: deps.pool, logger });
  const waker = createWaker();
  const unsubscribe = view.onChange(() => waker.wake());
  deps.stopping?.addEventListener('abort', waker.wake);
  try {
    // A failure here fails the run, and Agenda runs it again a second later.
    await view.start();
    await drive(job, deps, { view, waker, deadline, logger });
  } finally {
    unsubscribe();
    deps.stopping?.removeEventListener('abort', waker.wake);
    await view.close();
  }
}

interface Run {
  view: MaintenanceView;
  waker: Waker;
  deadline: Date;
  logger: Logger;
}

async function drive(job: Job<CountdownJobData>, deps: JobDeps, run: Run): Promise<void> {
  const { view, waker, deadline, logger } = run;
  const store = createMaintenanceStore(deps.pool);
  /** The secondsLeft of the last tick sent (by this run, or the one that handed over): each tick is one less. */
  let lastSent: number | undefined = typeof job.attrs.data?.sentSeconds === 'number' ? job.attrs.data.sentSeconds : undefined;

  for (;;) {
    if (deps.stopping?.aborted) return handOver(job, deadline, lastSent, logger);
    // Agenda marks the run cancelled when its lock outlived the lock lifetime (this process
    // stalled): another worker may already drive the countdown. Failing makes Agenda run it
    // again shortly, from the stored state, rather than end it unfinished.
    const cancelled = job.getCanceledMessage();
    if (cancelled) throw new Error(`the countdown's lock expired (${String(cancelled)}); it will be resumed from the stored deadline`);

    const snapshot = view.current();
    if (!drives(snapshot, deadline)) return settle(snapshot, deadline, lastSent, deps, logger);

    const now = Date.now();
    const msLeft = deadline.getTime() - now;
    if (msLeft <= 0) {
      const ended = await finish(store, deadline, deps, logger);
      if (ended) return;
      if (ended === false) await view.refresh().catch(() => undefined); // changed under us: learn how
      else await waker.wait(DATABASE_RETRY_MS);
      continue;
    }

    // The second to send next: one less than the last, or fewer if this worker fell behind
    // (stalled, or took over late): seconds that have passed are skipped, never sent late in a burst.
    const next = Math.min(Math.ceil(msLeft / 1000), lastSent === undefined ? Number.POSITIVE_INFINITY : lastSent - 1);
    const due = next > 0 ? deadline.getTime() - next * 1000 : deadline.getTime();
    if (now < due) {
      // Until its second (or the deadline), counted back from the deadline each time, so
      // nothing drifts; a state change or the worker stopping wakes it early.
      await waker.wait(due - now);
      continue;
    }
    try {
      emitToVisitors(deps.emitter, countdownEvent(snapshot, next, now));
    } catch (error) {
      logger.warn({ err: error }, 'maintenance countdown: a tick could not be sent');
    }
    lastSent = next;
    try {
      await job.touch();
    } catch (error) {
      // A database hiccup: the lock lives on for its lifetime, and the next tick touches again.
      logger.warn({ err: error }, 'maintenance countdown: could not renew the lock');
    }
  }
}

/**
 * Zero: countdown → active (only if still this countdown), every visitor told, then the
 * maintenance flashes cleared. True: ended here; false: someone else changed the state
 * first; undefined: the database failed.
 */
async function finish(store: MaintenanceStore, deadline: Date, deps: JobDeps, logger: Logger): Promise<boolean | undefined> {
  let ended: MaintenanceSnapshot | undefined;
  try {
    ended = await store.finish(deadline);
  } catch (error) {
    logger.warn({ err: error }, 'maintenance countdown: cannot switch maintenance on; trying again');
    return undefined;
  }
  if (!ended) return false;
  // After the commit: every web process's gate already answers 503 (it has heard the
  // notification, or sees the deadline passed), so a tab that reloads on this lands on the
  // maintenance page.
  emitToVisitors(deps.emitter, stateEvent(ended));
  logger.info({ deadline }, 'maintenance mode on');
  // After the event, which no visitor should wait for: nobody sees a flash while maintenance
  // is on. Should this fail, or the worker die first, the run is retried or taken over, finds
  // maintenance on with its deadline, and clears them then (settle); ending maintenance
  // clears them too.
  await deps.sessions.clearFlashKey(FLASH_KEY);
  return true;
}

/** The countdown this run drives is no longer the stored one. */
async function settle(snapshot: MaintenanceSnapshot, deadline: Date, lastSent: number | undefined, deps: JobDeps, logger: Logger): Promise<void> {
  if (snapshot.state === 'idle' && lastSent !== undefined) {
    // Cancelled. Whoever cancelled told the visitors; told again from here, after this run's
    // last tick, so a tick that crossed the cancel on its way cannot leave a countdown running.
    emitToVisitors(deps.emitter, stateEvent(snapshot));
  }
  if (snapshot.state === 'active' && snapshot.deadline?.getTime() === deadline.getTime()) {
    // Ended by a run that may have died before it cleared the flashes: clearing is idempotent.
    await deps.sessions.clearFlashKey(FLASH_KEY);
  }
  // A newer countdown is driven by its own job.
  logger.info({ deadline, state: snapshot.state }, 'maintenance countdown: no longer running; job done');
}

/** This worker is stopping: the countdown goes on as a new job, which another worker picks up at once. */
async function handOver(job: Job<CountdownJobData>, deadline: Date, lastSent: number | undefined, logger: Logger): Promise<void> {
  const data: CountdownJobData = { deadline: deadline.toISOString(), ...(lastSent !== undefined ? { sentSeconds: lastSent } : {}) };
  await job.agenda.now<CountdownJobData>(MAINTENANCE_COUNTDOWN_JOB, data);
  logger.info({ deadline }, 'maintenance countdown handed over: this worker is stopping');
}
