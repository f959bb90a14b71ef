import { Agenda, type Job, type JobStateNotification } from 'agenda';
import { PostgresBackend } from '@agendajs/postgres-backend';
import type { Pool } from '../server/db/pool.ts';
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
}

export interface AgendaHandle {
  agenda: Agenda;
  /** Waits for running jobs, releases the ones this process had claimed, then stops. */
  stop(): Promise<void>;
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
  const mongo = options.mongodbUrl ? await (await import('./mongo-backend.ts')).createMongoBackend(options.mongodbUrl) : undefined;
  const backend = mongo?.backend ?? new PostgresBackend({ pool: options.pool, tableName: JOBS_TABLE, ensureSchema: false });
  const agenda = new Agenda({
    backend,
    name: options.processName,
    processEvery: options.processEvery ?? '5 seconds',
    defaultLockLifetime: 60_000,
  });
  agenda.on('error', (error: unknown) => options.logger.error({ err: error }, 'agenda error'));
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
        await options.pool.query(
          `UPDATE ${JOBS_TABLE} SET locked_at = NULL WHERE locked_at IS NOT NULL AND last_modified_by = $1`,
          [options.processName],
        );
      }
      await agenda.stop();
      await mongo?.close();
    },
  };
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
