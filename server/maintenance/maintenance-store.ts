import type { PoolClient } from 'pg';
import type { MaintenanceState } from '../../protocol/events.ts';
import type { Pool } from '../db/pool.ts';
import { withTransaction } from '../db/transaction.ts';

/**
 * The one maintenance row (migrations/*_maintenance.sql) and its transitions. Every
 * transition is one conditional UPDATE in a transaction that also sends
 * `NOTIFY maintenance_changed` with the new state, so each process's view (maintenance-state.ts)
 * hears of it as it commits. The conditions are the invariants:
 *
 * - a countdown starts only from idle, so two starts never both succeed;
 * - a countdown ends (countdown → active) only if it is still the countdown with that
 *   deadline, so two workers driving it can never both end it, and a cancelled or replaced
 *   countdown is never ended by its old job;
 * - the side effects that must stay in order with the transitions (a start writing the
 *   maintenance flash, a cancel clearing it) run while the transaction holds the row: a
 *   cancel cannot clear the flashes before the start it cancels has written them.
 */

export const MAINTENANCE_CHANNEL = 'maintenance_changed';

/** The maintenance state as stored. */
export interface MaintenanceSnapshot {
  state: MaintenanceState;
  /** countdown: when it ends; active: when maintenance began. Whole milliseconds. */
  deadline?: Date;
  /** What ops asked visitors to read; may hold `{seconds}`. */
  message?: string;
  startedAt?: Date;
  /** Grows by one with every transition: a view keeps the newest snapshot it has seen. */
  version: number;
}

interface MaintenanceRow {
  state: MaintenanceState;
  deadline: Date | null;
  message: string | null;
  started_at: Date | null;
  version: string;
}

const columns = 'state, deadline, message, started_at, version';

function toSnapshot(row: MaintenanceRow): MaintenanceSnapshot {
  const snapshot: MaintenanceSnapshot = { state: row.state, version: Number(row.version) };
  if (row.deadline) snapshot.deadline = row.deadline;
  if (row.message !== null) snapshot.message = row.message;
  if (row.started_at) snapshot.startedAt = row.started_at;
  return snapshot;
}

/** The NOTIFY payload: the new snapshot as JSON (well under NOTIFY's 8000 bytes: the message is at most 500 characters). */
export function snapshotPayload(snapshot: MaintenanceSnapshot): string {
  return JSON.stringify({
    state: snapshot.state,
    deadline: snapshot.deadline?.toISOString() ?? null,
    message: snapshot.message ?? null,
    startedAt: snapshot.startedAt?.toISOString() ?? null,
    version: snapshot.version,
  });
}

const states: readonly string[] = ['idle', 'countdown', 'active'] satisfies MaintenanceState[];

/** Reads a NOTIFY payload back; undefined for anything that is not one of ours. */
export function parseSnapshotPayload(payload: string): MaintenanceSnapshot | undefined {
  try {
    const value = JSON.parse(payload) as Record<string, unknown>;
    if (typeof value.state !== 'string' || !states.includes(value.state) || typeof value.version !== 'number') return undefined;
    const snapshot: MaintenanceSnapshot = { state: value.state as MaintenanceState, version: value.version };
    if (typeof value.deadline === 'string') snapshot.deadline = new Date(value.deadline);
    if (typeof value.message === 'string') snapshot.message = value.message;
    if (typeof value.startedAt === 'string') snapshot.startedAt = new Date(value.startedAt);
    return snapshot;
  } catch {
    return undefined;
  }
}

/** Work done while a transition holds the row, after its UPDATE and before its COMMIT. */
export type DuringTransition = (next: MaintenanceSnapshot) => Promise<void>;

export type StartOutcome = { started: true; snapshot: MaintenanceSnapshot } | { started: false; current: MaintenanceSnapshot };

export type EndOutcome = { previous: MaintenanceSnapshot; snapshot: MaintenanceSnapshot };

const selectSql = `SELECT ${columns} FROM maintenance`;

// Only from idle. The deadline is cut to whole milliseconds: it travels as an ISO string (job
// data, events) and must compare equal to the stored value when it comes back.
const startSql = `
  UPDATE maintenance
     SET state = 'countdown',
         deadline = date_trunc('milliseconds', clock_timestamp()) + make_interval(secs => $1),
         message = $2,
         started_at = clock_timestamp(),
         updated_at = clock_timestamp(),
         version = version + 1
   WHERE state = 'idle'
  RETURNING ${columns}`;

// Only the countdown with this deadline: a cancelled or replaced countdown is never ended by
// its old job, and of two workers driving the same one, only the first ends it.
const finishSql = `
  UPDATE maintenance
     SET state = 'active', updated_at = clock_timestamp(), version = version + 1
   WHERE state = 'countdown' AND deadline = $1::timestamptz
  RETURNING ${columns}`;

// FOR UPDATE: the previous state is the one this transaction replaces, not one a concurrent
// transition is about to replace.
const lockSql = `${selectSql} FOR UPDATE`;

const endSql = `
  UPDATE maintenance
     SET state = 'idle', deadline = NULL, message = NULL, started_at = NULL,
         updated_at = clock_timestamp(), version = version + 1
   WHERE ($1::timestamptz IS NULL OR deadline = $1::timestamptz)
  RETURNING ${columns}`;

export function createMaintenanceStore(pool: Pool) {
  /**
   * Transitions of this process one at a time: each holds a connection for its transaction
   * and its side effect takes a second one from the pool, so unbounded concurrent
   * transitions, all waiting for the row, could exhaust the pool.
   */
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  };

  async function notify(client: PoolClient, snapshot: MaintenanceSnapshot): Promise<void> {
    // Delivered at COMMIT, and only if the transaction commits.
    await client.query('SELECT pg_notify($1, $2)', [MAINTENANCE_CHANNEL, snapshotPayload(snapshot)]);
  }

  return {
    async read(): Promise<MaintenanceSnapshot> {
      const { rows } = await pool.query<MaintenanceRow>(selectSql);
      if (!rows[0]) throw new Error('The maintenance row is missing; run the migrations (npm run migrate).');
      return toSnapshot(rows[0]);
    },

    /** idle → countdown of `seconds`; `during` writes the flash while the row is held. */
    start(seconds: number, message: string | undefined, during: DuringTransition): Promise<StartOutcome> {
      return serial(() =>
        withTransaction(pool, async (client) => {
          const { rows } = await client.query<MaintenanceRow>(startSql, [seconds, message ?? null]);
          if (!rows[0]) {
            const current = await client.query<MaintenanceRow>(selectSql);
            return { started: false, current: toSnapshot(current.rows[0]!) };
          }
          const snapshot = toSnapshot(rows[0]);
          await during(snapshot);
          await notify(client, snapshot);
          return { started: true, snapshot };
        }),
      );
    },

    /** countdown (this deadline) → active; undefined when it is no longer that countdown. */
    finish(deadline: Date, during?: DuringTransition): Promise<MaintenanceSnapshot | undefined> {
      return serial(() =>
        withTransaction(pool, async (client) => {
          const { rows } = await client.query<MaintenanceRow>(finishSql, [deadline.toISOString()]);
          if (!rows[0]) return undefined;
          const snapshot = toSnapshot(rows[0]);
          await during?.(snapshot);
          await notify(client, snapshot);
          return snapshot;
        }),
      );
    },

    /**
     * countdown or active → idle. With `onlyDeadline`, only if the state is still the one
     * with that deadline (taking back a start whose job could not be queued). Undefined when
     * there was nothing to end.
     */
    end(during: DuringTransition, onlyDeadline?: Date): Promise<EndOutcome | undefined> {
      return serial(() =>
        withTransaction(pool, async (client) => {
          const locked = await client.query<MaintenanceRow>(lockSql);
          const previous = toSnapshot(locked.rows[0]!);
          if (previous.state === 'idle') return undefined;
          const { rows } = await client.query<MaintenanceRow>(endSql, [onlyDeadline?.toISOString() ?? null]);
          if (!rows[0]) return undefined;
          const snapshot = toSnapshot(rows[0]);
          await during(snapshot);
          await notify(client, snapshot);
          return { previous, snapshot };
        }),
      );
    },
  };
}

export type MaintenanceStore = ReturnType<typeof createMaintenanceStore>;
