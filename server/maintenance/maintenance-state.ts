import type { PoolClient } from 'pg';
import { systemClock, type DatabaseClock } from '../db/database-clock.ts';
import { createOutageLog } from '../db/outage-log.ts';
import type { Metrics } from '../metrics.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import { MAINTENANCE_CHANNEL, createMaintenanceStore, parseSnapshotPayload, type MaintenanceSnapshot } from './maintenance-store.ts';

/**
 * This process's view of the maintenance state, so that the visitor gate answers from memory
 * rather than asking PostgreSQL on every request. Kept fresh three ways:
 *
 * - `LISTEN maintenance_changed` on a connection of its own: every transition notifies as it
 *   commits, wherever it ran (another web process, the worker);
 * - `apply()` by this process's own transitions right after they commit, before anything is
 *   emitted to visitors;
 * - a slow poll, for notifications lost while the listening connection was down (NOTIFY is
 *   not durable) or before it was up.
 *
 * Each snapshot carries the row's version, and the view keeps the newest, so a poll that
 * was answered before a notification cannot undo it.
 */

export interface MaintenanceViewOptions {
  /** How often the row is read regardless of notifications (ms). */
  pollIntervalMs?: number;
  /** Wait before listening again after the connection failed (ms). */
  reconnectDelayMs?: number;
}

export interface MaintenanceView {
  /** The newest state this process knows. */
  current(): MaintenanceSnapshot;
  /**
   * Whether visitors are shut out now (on the database's clock): maintenance is on, or a countdown's deadline has
   * passed. The second case is the moment between the deadline and the worker switching the
   * state to active; answering 503 already then means a tab that reloads on the `active`
   * event always lands on the maintenance page, whichever process serves it and however late
   * that process hears the notification.
   */
  isDown(now?: number): boolean;
  /** A snapshot this process has just committed (kept only if newer than the current one). */
  apply(snapshot: MaintenanceSnapshot): void;
  /** Reads the row now. */
  refresh(): Promise<MaintenanceSnapshot>;
  /** Called with every newer snapshot; returns the unsubscribe. */
  onChange(listener: (snapshot: MaintenanceSnapshot) => void): () => void;
  /** Reads the state and starts listening; the view is correct once this resolves. */
  start(): Promise<void>;
  close(): Promise<void>;
}

const defaults = { pollIntervalMs: 2000, reconnectDelayMs: 500 };
/** The longest wait between two attempts to listen again (the poll covers the meantime). */
const MAX_RECONNECT_DELAY_MS = 5000;

export function isDown(snapshot: MaintenanceSnapshot, now: number = Date.now()): boolean {
  if (snapshot.state === 'active') return true;
  return snapshot.state === 'countdown' && snapshot.deadline !== undefined && snapshot.deadline.getTime() <= now;
}

export function createMaintenanceView(
  deps: { pool: Pool; logger: Logger; clock?: Pick<DatabaseClock, 'now'>; metrics?: Pick<Metrics, 'databaseReconnects'> },
  options: MaintenanceViewOptions = {},
): MaintenanceView {
  const { pool, logger } = deps;
  const clock = deps.clock ?? systemClock;
  // One warning when the state can no longer be read or heard, one line when it can again.
  const outage = createOutageLog(logger, 'maintenance view', deps.metrics);
  const pollIntervalMs = options.pollIntervalMs ?? defaults.pollIntervalMs;
  const reconnectDelayMs = options.reconnectDelayMs ?? defaults.reconnectDelayMs;
  const store = createMaintenanceStore(pool);
  const listeners = new Set<(snapshot: MaintenanceSnapshot) => void>();

  // Until start() has read the row: idle, version -1, so the first read always wins.
  let snapshot: MaintenanceSnapshot = { state: 'idle', version: -1 };
  let closed = false;
  /** The listening connection, and how to let go of it (idempotent). */
  let listening: { client: PoolClient; drop(error?: Error): void } | undefined;
  let poll: ReturnType<typeof setInterval> | undefined;
  let reconnect: ReturnType<typeof setTimeout> | undefined;

  function apply(next: MaintenanceSnapshot): void {
    if (next.version <= snapshot.version) return;
    snapshot = next;
    for (const listener of listeners) {
      try {
        listener(next);
      } catch (error) {
        logger.warn({ err: error }, 'a maintenance state listener failed');
      }
    }
  }

  async function refresh(): Promise<MaintenanceSnapshot> {
    apply(await store.read());
    if (listening) outage.recovered();
    return snapshot;
  }

  /** Failed attempts in a row: the wait doubles with each, up to MAX_RECONNECT_DELAY_MS. */
  let attempts = 0;
  function scheduleReconnect(): void {
    if (closed || reconnect) return;
    const delay = Math.min(reconnectDelayMs * 2 ** attempts, Math.max(reconnectDelayMs, MAX_RECONNECT_DELAY_MS));
    attempts += 1;
    reconnect = setTimeout(() => {
      reconnect = undefined;
      void listen();
    }, delay);
  }

  async function listen(): Promise<void> {
    if (closed) return;
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      outage.failed(error);
      scheduleReconnect();
      return;
    }
    let dropped = false;
    const drop = (error?: Error) => {
      if (dropped) return;
      dropped = true;
      client.removeListener('notification', onNotification);
      // Errors after this point (the connection closing) are expected and ignored.
      client.removeListener('error', onLost);
      client.on('error', () => undefined);
      if (listening?.client === client) listening = undefined;
      // Destroyed rather than returned: a connection that held LISTEN, or failed, is not reused.
      client.release(error ?? true);
    };
    const onLost = (error?: Error) => {
      if (dropped) return;
      drop(error);
      if (closed) return;
      outage.failed(error ?? new Error('the listening connection ended'));
      scheduleReconnect();
    };
    const onNotification = (message: { channel: string; payload?: string | undefined }) => {
      if (message.channel !== MAINTENANCE_CHANNEL || !message.payload) return;
      const next = parseSnapshotPayload(message.payload);
      if (next) apply(next);
    };
    client.on('notification', onNotification);
    client.on('error', onLost);
    client.once('end', () => onLost());
    try {
      await client.query(`LISTEN ${MAINTENANCE_CHANNEL}`);
    } catch (error) {
      onLost(error as Error);
      return;
    }
    if (closed) {
      drop();
      return;
    }
    listening = { client, drop };
    attempts = 0;
    // Whatever changed while nobody was listening.
    refresh().catch((error: unknown) => outage.failed(error));
  }

  return {
    current: () => snapshot,
    isDown: (now) => isDown(snapshot, now ?? clock.now()),
    apply,
    refresh,
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async start() {
      await refresh();
      await listen();
      poll ??= setInterval(() => {
        refresh().catch((error: unknown) => outage.failed(error));
      }, pollIntervalMs);
    },
    async close() {
      closed = true;
      if (poll) clearInterval(poll);
      if (reconnect) clearTimeout(reconnect);
      const current = listening;
      listening = undefined;
      current?.drop();
    },
  };
}
