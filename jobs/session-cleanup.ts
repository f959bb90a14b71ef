import type { Job } from 'agenda';
import type { Pool } from '../server/db/pool.ts';
import { cleanupExpiredSessions } from '../server/sessions/session-cleanup.ts';
import type { JobDefinition } from './job-definition.ts';
import { defineJobWithResult } from './job-results.ts';

export const SESSION_CLEANUP = 'session-cleanup';

/** What one cleanup removed: expired sessions, and the carts that went with them. */
export interface SessionCleanupResult {
  sessions: number;
  carts: number;
}

/**
 * Deletes expired sessions in batches (server/sessions/session-cleanup.ts); the cascade
 * removes their flashes, carts, presence and promotion deliveries. Each batch touches the
 * job, which reports progress and renews Agenda's lock, so however many batches a large
 * backlog takes the run never outlives its lock and is never started a second time
 * elsewhere. If Agenda gave up on the run meanwhile, the touch fails and the cleanup stops
 * before its next batch (what it deleted stays deleted; the next run goes on).
 */
export async function runSessionCleanup(pool: Pool, job?: Job): Promise<SessionCleanupResult> {
  const backlog = job ? await expiredCount(pool) : 0;
  let touching: Promise<void> = Promise.resolve();
  let touchFailed: unknown;
  const result = await cleanupExpiredSessions(pool, {
    onProgress: (soFar) => {
      if (touchFailed) throw touchFailed;
      if (!job) return;
      const percent = backlog > 0 ? Math.min(99, Math.floor((soFar.sessions / backlog) * 100)) : 99;
      touching = touching
        .then(() => job.touch(percent))
        .catch((error: unknown) => {
          touchFailed = error;
        });
    },
  });
  // A touch that failed after the last batch changes nothing: the work is done.
  await touching;
  return { sessions: result.sessions, carts: result.carts };
}

async function expiredCount(pool: Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM session WHERE expire <= now()');
  return Number(rows[0]?.n ?? 0);
}

export const sessionCleanupJob: JobDefinition = {
  name: SESSION_CLEANUP,
  defaultEvery: '10 minutes',
  operable: true,
  define(agenda, deps) {
    defineJobWithResult(agenda, deps.pool, SESSION_CLEANUP, (job) => runSessionCleanup(deps.pool, job), { lockLifetimeMs: 60_000 });
  },
};
