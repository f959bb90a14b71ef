import type { Agenda } from 'agenda';
import type { DatabaseClock } from '../server/db/database-clock.ts';
import type { Pool } from '../server/db/pool.ts';
import type { MaintenanceView } from '../server/maintenance/maintenance-state.ts';
import type { Logger } from '../server/logger.ts';
import type { Metrics } from '../server/metrics.ts';
import type { Push, RoomEmitter } from '../server/realtime/push.ts';
import type { Sessions } from '../server/sessions/sessions.ts';

/** What every job may use; given by the worker entry (server/system.ts). */
export interface JobDeps {
  pool: Pool;
  logger: Logger;
  sessions: Sessions;
  /** Write-then-emit delivery of flashes. */
  push: Push;
  /** Raw emits to rooms, in-process io or the cross-process emitter. */
  emitter: RoomEmitter;
  /** The database's clock (deadlines are compared on it); default: this machine's. */
  clock?: Pick<DatabaseClock, 'now'>;
  /** This process's metrics: a job counts what it writes outside `sessions` (a promotion round's flashes). */
  metrics?: Metrics;
  /** This process's view of the maintenance state; a countdown run opens its own when unset. */
  maintenanceView?: Pick<MaintenanceView, 'current' | 'refresh' | 'onChange'>;
  /**
   * Set by startJobs, aborted when the worker begins to stop (before Agenda's drain waits
   * for running jobs): a job that would run long hands its work over instead.
   */
  stopping?: AbortSignal;
}

/**
 * One job: its name, how it is defined on an Agenda, and its default repeating schedule
 * (created once, on first start, if ops have not set or removed one).
 */
export interface JobDefinition {
  name: string;
  define(agenda: Agenda, deps: JobDeps): void;
  defaultEvery?: string;
  /** Whether ops may run it now or schedule it through the API (the countdown is started by its own endpoint). */
  operable: boolean;
  /** Called once when a worker starts: queues work that a crash left without a job. */
  resume?(agenda: Agenda, deps: JobDeps): Promise<void>;
}
