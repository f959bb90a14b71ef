import { Agenda, type Job, type JobStateNotification } from 'agenda';
import { PostgresBackend, PostgresNotificationChannel } from '@agendajs/postgres-backend';
import type pg from 'pg';
import { createListenPool, type ListenPool } from '../server/db/listen-connection.ts';
import { createOutageLog, errorSummary } from '../server/db/outage-log.ts';
import type { Metrics } from '../server/metrics.ts';
import { isDatabaseUnavailable, type Pool } from '../server/db/pool.ts';
import { AppError } from '../server/errors.ts';
import type { Logger } from '../server/logger.ts';

export const JOBS_TABLE = 'agenda_jobs';

export interface AgendaOptions {
  pool: Pool;
  logger: Logger;
  /** Set: Agenda keeps its jobs in MongoDB (see mongo-backend.ts); unset: in `pool`'s PostgreSQL. */
  mongodbUrl?: string;
  /** Distinguishes this process in Agenda's cross-process events; must differ per process. */
  processName: string;
  /** How often a worker looks for due jobs when no notification woke it. */
  processEvery?: string | number;
  metrics?: Pick<Metrics, 'databaseReconnects'> | undefined;
}

export interface AgendaHandle {
  agenda: Agenda;
  /** Waits for running jobs, releases the ones this process had claimed, then stops. */
  stop(): Promise<void>;
}

/** The MongoDB packages are optional dependencies: loaded only when MONGODB_URL is set. */
async function loadMongoBackend(): Promise<typeof import('./mongo-backend.ts')> {
  try {
    return await import('./mongo-backend.ts');
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new Error(
      'MONGODB_URL is set but the optional packages mongodb and @agendajs/mongo-backend are not installed: install them (npm install --include=optional) or unset MONGODB_URL.',
      { cause: error },
    );
  }
}

/**
 * One Agenda per process. The schema comes from migrations (005_agenda.sql), never from
 * Agenda itself: its ensureSchema races when several processes start together. A web-only
 * process starts it without defining jobs, which gives it notifications and remote events
 * but nothing to run.
 */
export async function createAgenda(options: AgendaOptions): Promise<AgendaHandle> {
  // The constructor connects at once and an unreachable database there is an unhandled
  // rejection; asking first turns it into an error we can report.
  await options.pool.query('SELECT 1');
  const mongo = options.mongodbUrl ? await (await loadMongoBackend()).createMongoBackend(options.mongodbUrl) : undefined;
  // Ours instead of the one PostgresBackend would make: see DurableNotificationChannel.
  const channel = mongo ? undefined : new DurableNotificationChannel(options.pool, options.logger, options.metrics);
  const backend =
    mongo?.backend ?? new PostgresBackend({ pool: options.pool, tableName: JOBS_TABLE, ensureSchema: false, disableNotifications: true });
  const agenda = new Agenda({
    backend,
    ...(channel ? { notificationChannel: channel } : {}),
    name: options.processName,
    processEvery: options.processEvery ?? '5 seconds',
    defaultLockLifetime: 60_000,
  });
  agenda.on('error', (error: unknown) => {
    // Its job scans fail while the database is away, every processEvery: the outage is
    // logged once by the database health check, and the scans resume by themselves.
    if (isDatabaseUnavailable(error)) options.logger.debug({ error: errorSummary(error) }, 'agenda: database unavailable');
    else options.logger.error({ err: error }, 'agenda error');
  });
  await agenda.ready;

  let stopped = false;
  return {
    agenda,
    async stop() {
      if (stopped) return;
      stopped = true;
      const drained = await agenda.drain({ timeout: 25_000, closeConnection: false });
      // drain() leaves jobs it had claimed but not started locked until their lock expires.
      if (drained.running === 0 && !options.mongodbUrl) {
        await options.pool.query(`UPDATE ${JOBS_TABLE} SET locked_at = NULL WHERE locked_at IS NOT NULL AND last_modified_by = $1`, [
          options.processName,
        ]);
      }
      await agenda.stop();
      // Agenda disconnects the channel only if its start() succeeded; one that failed may
      // still be retrying its LISTEN.
      await channel?.disconnect();
      await mongo?.close();
    },
  };
}

/**
 * Agenda's PostgreSQL notification channel (one LISTEN connection, on the channel
 * PostgresBackend would use), made to outlive that connection. Works around
 * @agendajs/postgres-backend 3.0.6 (PostgresNotificationChannel) on agenda 6.2.6
 * (BaseNotificationChannel), where a lost LISTEN connection
 * - crashed the process: the client's error is re-emitted as 'error' on the channel, which
 *   nothing listens to (and a failed reconnect in its timer is emitted there too);
 * - was noticed only through an 'error' while connected, never through a quiet 'end';
 * - was retried every 100 ms without backoff: connect() zeroes the attempt count that both
 *   the backoff and the limit (maxAttempts, 10 by default) are computed from;
 * - could leave a client checked out when a connect failed after taking one, or when it
 *   finished after disconnect().
 * Here: clients come from the guarded pool of listen-connection.ts (errors handled, lost
 * clients released), a loss is logged once per outage and its end once, and the channel
 * retries forever, 250 ms doubling to 5 s (cut short once another client of the pool
 * connects), one timer at a time, none after disconnect().
 */
class DurableNotificationChannel extends PostgresNotificationChannel {
  readonly #listen: ListenPool;
  #closed = false;

  constructor(pool: Pool, logger: Logger, metrics?: Pick<Metrics, 'databaseReconnects'>) {
    super({ reconnect: { enabled: true, maxAttempts: Number.POSITIVE_INFINITY, initialDelayMs: 250, maxDelayMs: 5000 } });
    const outage = createOutageLog(logger, 'Agenda notifications', metrics);
    this.#listen = createListenPool(pool, {
      lost: (error) => {
        outage.failed(error ?? new Error('The LISTEN connection ended.'));
        if (this.state === 'connected') this.scheduleReconnect();
      },
      // The database is back: no need to sit out the rest of the backoff.
      reachable: () => {
        if (this.#closed || !this.reconnectTimeout) return;
        this.clearReconnect();
        this.connect().catch((error: unknown) => this.emit('error', error));
      },
    });
    this.setPool(this.#listen as unknown as pg.Pool);
    this.on('error', (error: unknown) => {
      if (this.#closed) return;
      // While connected, the error is a notification that failed (a handler, a payload),
      // not the connection: the guarded pool reports that first, and the channel is
      // reconnecting by the time the client's error arrives here.
      if (this.state === 'connected') logger.warn({ error: errorSummary(error) }, 'Agenda notification failed');
      else outage.failed(error);
    });
    this.on('stateChange', (state: string) => {
      if (state !== 'connected') return;
      this.reconnectAttempts = 0;
      outage.recovered();
    });
  }

  override async connect(): Promise<void> {
    this.#closed = false;
    try {
      await super.connect();
    } catch (error) {
      // A client taken before the LISTEN failed; upstream kept it checked out.
      this.#listen.releaseAll();
      throw error;
    }
    // disconnect() came while this connect was under way: its client is already released.
    if (this.#closed) this.setState('disconnected');
  }

  override async disconnect(): Promise<void> {
    this.#closed = true;
    await super.disconnect();
    this.#listen.releaseAll();
  }

  protected override scheduleReconnect(): void {
    if (this.#closed || this.reconnectTimeout) return;
    super.scheduleReconnect();
  }

  /** Upstream also zeroes the attempts here, at the start of each connect(); they are zeroed once connected instead. */
  protected override clearReconnect(): void {
    clearTimeout(this.reconnectTimeout);
    this.reconnectTimeout = undefined;
  }
}

export interface JobOutcome {
  id: string;
  ok: boolean;
  failReason?: string;
}

/**
 * Resolves when the job run `jobId` has finished, in this process or another. Listens for
 * Agenda's `complete:NAME` event and also polls the row, because notifications between
 * processes are not durable.
 */
export function waitForJob(agenda: Agenda, jobName: string, jobId: string, timeoutMs = 120_000): Promise<JobOutcome> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const check = async () => {
      const { jobs } = await agenda.queryJobs({ id: jobId });
      const job = jobs[0];
      if (!job) return finish({ id: jobId, ok: false, failReason: 'the job was removed before it finished' });
      const finished = job.lastFinishedAt && !job.lockedAt && (!job.lastRunAt || job.lastFinishedAt >= job.lastRunAt);
      if (finished) finish({ id: jobId, ok: job.state !== 'failed', ...(job.failReason ? { failReason: job.failReason } : {}) });
    };
    const onComplete = (event: Job | JobStateNotification) => {
      const id = 'attrs' in event ? String(event.attrs._id) : String(event.jobId);
      if (id === jobId) check().catch(fail);
    };
    const poll = setInterval(() => check().catch(fail), 1000);
    const timer = setTimeout(
      () =>
        fail(
          new AppError(
            'JOB_TIMEOUT',
            `${jobName} (job ${jobId}) had not finished after ${Math.round(timeoutMs / 1000)} s. Is a worker running (ROLE=all or ROLE=worker)? The run stays queued and will still happen.`,
          ),
        ),
      timeoutMs,
    );
    const cleanup = () => {
      settled = true;
      clearInterval(poll);
      clearTimeout(timer);
      agenda.off(`complete:${jobName}`, onComplete);
    };
    function finish(outcome: JobOutcome) {
      if (!settled) {
        cleanup();
        resolve(outcome);
      }
    }
    function fail(error: unknown) {
      if (!settled) {
        cleanup();
        reject(error);
      }
    }
    agenda.on(`complete:${jobName}`, onComplete);
    check().catch(fail);
  });
}
