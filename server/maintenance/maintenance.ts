import type { MaintenanceState } from '../../protocol/events.ts';
import type { Pool } from '../db/pool.ts';
import { AppError, conflict } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { RoomEmitter } from '../realtime/push.ts';
import { VISITORS_ROOM } from '../realtime/rooms.ts';
import type { Sessions } from '../sessions/sessions.ts';
import { systemClock, type DatabaseClock } from '../db/database-clock.ts';
import { countdownText, secondsLeft } from '../../common/countdown.ts';
import { FLASH_KEY } from './maintenance-events.ts';
import type { MaintenanceView } from './maintenance-state.ts';
import { createMaintenanceStore, type MaintenanceSnapshot } from './maintenance-store.ts';

/**
 * The maintenance countdown, as ops drive it: start a countdown, see where it stands, cancel
 * it or end maintenance. Visitors hear of every change from their own web process, whose
 * view of the state hears of it as it commits (countdown-ticker.ts, which also sends the
 * ticks); the switch to maintenance at zero is the job's (jobs/maintenance-countdown.ts), or
 * the first web process's to see the deadline pass.
 */

export {
  DEFAULT_COUNTDOWN_SECONDS,
  MAX_COUNTDOWN_SECONDS,
  MAX_MAINTENANCE_MESSAGE_LENGTH as MAX_MESSAGE_LENGTH,
} from '../../protocol/ops-schemas.ts';

/** What GET /ops/api/maintenance answers. */
export interface MaintenanceStatus {
  state: MaintenanceState;
  /** countdown: when it ends; active: when maintenance began. */
  deadline?: string;
  /** countdown only. */
  secondsLeft?: number;
  message?: string;
  startedAt?: string;
}

export interface StartInput {
  seconds: number;
  message?: string | undefined;
}

export interface CancelResult {
  /** What was cancelled: a countdown, maintenance, or nothing (`idle`: already idle). */
  previous: MaintenanceState;
  status: MaintenanceStatus;
}

export interface MaintenanceDeps {
  pool: Pool;
  logger: Logger;
  sessions: Pick<Sessions, 'writeFlash' | 'clearFlashKey'>;
  /** Emits to visitors' tabs: the in-process Socket.IO server or the cross-process emitter. */
  emitter: RoomEmitter;
  /**
   * Queues the job that switches maintenance on at the deadline (jobs/maintenance-countdown.ts),
   * for whichever worker runs it.
   */
  queueCountdown(deadline: Date): Promise<void>;
  /**
   * This process's view: told of each change made here as it commits. Its ticker tells this
   * process's visitors; the other web processes' views hear of it by NOTIFY.
   */
  view?: Pick<MaintenanceView, 'apply'>;
  /** The database's clock, on which deadlines are compared; default: this machine's. */
  clock?: Pick<DatabaseClock, 'now'>;
}

export function toStatus(snapshot: MaintenanceSnapshot, now: number = Date.now()): MaintenanceStatus {
  const status: MaintenanceStatus = { state: snapshot.state };
  if (snapshot.deadline) status.deadline = snapshot.deadline.toISOString();
  if (snapshot.state === 'countdown' && snapshot.deadline) status.secondsLeft = secondsLeft(snapshot.deadline.getTime(), now);
  if (snapshot.message !== undefined) status.message = snapshot.message;
  if (snapshot.startedAt) status.startedAt = snapshot.startedAt.toISOString();
  return status;
}

export function createMaintenance(deps: MaintenanceDeps) {
  const { logger, sessions, emitter } = deps;
  const clock = deps.clock ?? systemClock;
  const store = createMaintenanceStore(deps.pool);

  /** Back to idle: the flashes go while the row is held, visitors hear of it (from their views) after the commit. */
  async function end(onlyDeadline?: Date) {
    const ended = await store.end(async () => {
      await sessions.clearFlashKey(FLASH_KEY);
    }, onlyDeadline);
    if (!ended) return undefined;
    deps.view?.apply(ended.snapshot);
    return ended;
  }

  return {
    async status(): Promise<MaintenanceStatus> {
      return toStatus(await store.read(), clock.now());
    },

    /**
     * Stores the deadline and writes the `maintenance` flash once into every active session
     * (its number is computed from the deadline whenever it is shown); once that is committed,
     * pushes the flash to every tab, then queues the job that switches maintenance on at
     * zero. The ticks come from each web process's view (countdown-ticker.ts). 409 unless idle.
     */
    async start(input: StartInput): Promise<MaintenanceStatus> {
      let flash: Awaited<ReturnType<Sessions['writeFlash']>> | undefined;
      const outcome = await store.start(input.seconds, input.message, async (next) => {
        flash = await sessions.writeFlash('active', {
          key: FLASH_KEY,
          message: countdownText(next.message),
          data: { deadline: next.deadline!.toISOString() },
        });
      });
      if (!outcome.started) throw startConflict(outcome.current, clock.now());

      const { snapshot } = outcome;
      const deadline = snapshot.deadline!;
      // What push.flash does for the active sessions, but only once the countdown is committed.
      if (flash && flash.sessions > 0) emitter.to(VISITORS_ROOM).emit('flash', flash.flash);
      // After the flash: this process's ticker sends the first tick to its tabs now.
      deps.view?.apply(snapshot);
      logger.info({ deadline, seconds: input.seconds, sessions: flash?.sessions ?? 0 }, 'maintenance countdown started');

      try {
        await deps.queueCountdown(deadline);
      } catch (error) {
        logger.error({ err: error }, 'could not queue the maintenance countdown job; taking the countdown back');
        await end(deadline).catch((endError: unknown) => logger.error({ err: endError }, 'could not take the countdown back'));
        throw new AppError('UNAVAILABLE', 'The countdown could not be queued for the worker, so it was not started. Try again.');
      }
      return toStatus(snapshot, clock.now());
    },

    /**
     * Cancels a countdown or ends maintenance: idle, flashes cleared, visitors told (tabs on
     * the maintenance page find the site back by themselves). When already idle it changes
     * nothing and says so (`previous: 'idle'`): ending maintenance twice is not an error.
     */
    async cancel(): Promise<CancelResult> {
      const ended = await end();
      if (!ended) return { previous: 'idle', status: toStatus(await store.read(), clock.now()) };
      logger.info(
        { previous: ended.previous.state },
        ended.previous.state === 'countdown' ? 'maintenance countdown cancelled' : 'maintenance ended',
      );
      return { previous: ended.previous.state, status: toStatus(ended.snapshot, clock.now()) };
    },
  };
}

export type Maintenance = ReturnType<typeof createMaintenance>;

function startConflict(current: MaintenanceSnapshot, now: number): AppError {
  if (current.state === 'active') {
    return conflict('Maintenance mode is on. End it with DELETE /ops/api/maintenance before starting a new countdown.');
  }
  const left = current.deadline ? `, ${secondsLeft(current.deadline.getTime(), now)} s left` : '';
  return conflict(
    `A countdown is already running (ends at ${current.deadline?.toISOString()}${left}). Cancel it with DELETE /ops/api/maintenance first.`,
  );
}
