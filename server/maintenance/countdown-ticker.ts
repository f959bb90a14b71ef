import { secondsLeft } from '../../common/countdown.ts';
import type { MaintenanceEvent } from '../../protocol/events.ts';
import type { DatabaseClock } from '../db/database-clock.ts';
import type { Logger } from '../logger.ts';
import type { Sessions } from '../sessions/sessions.ts';
import { FLASH_KEY, countdownEvent, stateEvent } from './maintenance-events.ts';
import type { MaintenanceView } from './maintenance-state.ts';
import type { MaintenanceSnapshot, MaintenanceStore } from './maintenance-store.ts';

/**
 * The countdown as one web process's visitors see it. Each web process tells its own sockets
 * (never another process's) every change of the maintenance state its view hears of, and
 * during a countdown it sends the ticks itself, on the second as counted back from the stored
 * deadline on the database's clock. So no tick travels from a worker: a worker that dies, a
 * slow adapter or a lost NOTIFY between processes cannot cost a visitor a second, and two web
 * processes never send the same tick to one tab (each has its own tabs).
 *
 * At the deadline this process also tries the transition to maintenance mode, the same
 * conditional UPDATE the countdown job runs: whichever process sees the deadline pass first
 * wins, the others find the countdown already ended. Winning, it clears the countdown's
 * flashes as the job would (idempotent; the job clears them again if it sees the end).
 */

export interface CountdownTickerDeps {
  view: Pick<MaintenanceView, 'current' | 'onChange' | 'refresh'>;
  clock: Pick<DatabaseClock, 'now'>;
  store: Pick<MaintenanceStore, 'finish'>;
  sessions: Pick<Sessions, 'clearFlashKey'>;
  /** Sends to this process's visitor sockets only. */
  emitLocal(event: MaintenanceEvent): void;
  logger: Logger;
}

/** After a failed transition (the database away), the next try. */
const RETRY_MS = 1000;

export interface CountdownTicker {
  close(): void;
}

export function createCountdownTicker(deps: CountdownTickerDeps): CountdownTicker {
  const { view, clock, logger } = deps;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** The deadline being counted down, and the last second sent for it. */
  let counting: { deadline: number; lastSent: number | undefined } | undefined;
  let closed = false;

  const emit = (event: MaintenanceEvent): void => {
    try {
      deps.emitLocal(event);
    } catch (error) {
      logger.warn({ err: error }, 'maintenance: an event could not be sent to this process’s sockets');
    }
  };

  const schedule = (ms: number): void => {
    clearTimeout(timer);
    if (!closed) timer = setTimeout(step, Math.max(0, ms));
  };

  /** One step of the countdown: a tick if its second has come, the transition at zero. */
  function step(): void {
    timer = undefined;
    const snapshot = view.current();
    if (!counting || snapshot.state !== 'countdown' || snapshot.deadline?.getTime() !== counting.deadline) return;
    const now = clock.now();
    const msLeft = counting.deadline - now;
    if (msLeft <= 0) {
      void finish(snapshot);
      return;
    }
    // The second to send next: one less than the last, or fewer if this process fell
    // behind (a long pause): seconds that have passed are skipped, never sent late in a burst.
    const next = Math.min(
      secondsLeft(counting.deadline, now),
      counting.lastSent === undefined ? Number.POSITIVE_INFINITY : counting.lastSent - 1,
    );
    const due = next > 0 ? counting.deadline - next * 1000 : counting.deadline;
    if (now < due) {
      schedule(due - now);
      return;
    }
    if (next > 0) {
      emit(countdownEvent(snapshot, next, now));
      counting.lastSent = next;
    }
    step();
  }

  async function finish(snapshot: MaintenanceSnapshot): Promise<void> {
    const deadline = snapshot.deadline!;
    let ended: MaintenanceSnapshot | undefined;
    try {
      ended = await deps.store.finish(deadline);
    } catch (error) {
      logger.debug({ err: error }, 'maintenance: cannot switch maintenance on yet; trying again');
      schedule(RETRY_MS);
      return;
    }
    if (!ended) {
      // Someone else ended it (or cancelled it): the view hears of it by NOTIFY; read it
      // now in case that notification is lost.
      await view.refresh().catch(() => undefined);
      return;
    }
    logger.info({ deadline }, 'maintenance mode on (switched by this web process at the deadline)');
    await deps.sessions.clearFlashKey(FLASH_KEY).catch((error: unknown) => {
      logger.warn({ err: error }, 'maintenance: could not clear the countdown flashes; the job or the end of maintenance clears them');
    });
  }

  function onChange(snapshot: MaintenanceSnapshot): void {
    const now = clock.now();
    if (snapshot.state === 'countdown' && snapshot.deadline) {
      const deadline = snapshot.deadline.getTime();
      if (counting?.deadline !== deadline) {
        // A new countdown: its current second now, then one a second.
        const event = stateEvent(snapshot, now);
        counting = { deadline, lastSent: event.secondsLeft };
        if (deadline > now) emit(event);
      }
      step();
      return;
    }
    counting = undefined;
    clearTimeout(timer);
    emit(stateEvent(snapshot, now));
  }

  const unsubscribe = view.onChange(onChange);
  // A countdown already running when this process starts.
  const initial = view.current();
  if (initial.state === 'countdown') onChange(initial);

  return {
    close() {
      closed = true;
      unsubscribe();
      clearTimeout(timer);
    },
  };
}
