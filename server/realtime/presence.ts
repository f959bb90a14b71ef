import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createOutageLog } from '../db/outage-log.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { PRESENCE_WINDOW_SECONDS } from '../sessions/active-sessions.ts';

/**
 * Presence: which sessions have connected sockets, kept in PostgreSQL (tables of
 * migrations/003_presence.sql) so jobs can join it with sessions in SQL and so it holds
 * across several web processes.
 *
 * Each process is a node with its own id and a heartbeat. The node keeps the exact socket
 * count of each of its sessions in memory, and writes the counts that changed, in batches:
 * a reconnect storm of thousands of sockets costs a few statements, not one per socket.
 * It writes counts rather than deltas because only this node writes its own rows, so a
 * write can be retried after any failure without counting a socket twice.
 */

export interface PresenceOptions {
  /** Unique per process; the default names the host and pid for whoever reads the table. */
  nodeId?: string;
  /** How often the node beats. Must stay well under PRESENCE_WINDOW_SECONDS. */
  heartbeatMs?: number;
  /** How long changes gather before one statement writes them (CONTRACT: reflected within 1 s). */
  flushDelayMs?: number;
  /** How often this node sweeps dead nodes. */
  sweepEveryMs?: number;
  /** A node whose heartbeat is older than this is deleted, with its rows (ON DELETE CASCADE). */
  sweepAfterSeconds?: number;
}

export interface PresenceCounts {
  activeSessions: number;
  sockets: number;
}

const defaults = {
  heartbeatMs: 1000,
  flushDelayMs: 100,
  sweepEveryMs: 5000,
  // Well past the window, so a node that was only slow for a moment (a long GC pause, a
  // busy database) counts again on its next beat without rewriting its rows.
  sweepAfterSeconds: PRESENCE_WINDOW_SECONDS * 3,
};

/** Sockets per session of one node, as one statement; sessions gone meanwhile are skipped. */
const writeCountsSql = `
  WITH changes AS (
    SELECT * FROM unnest($2::text[], $3::int[]) AS c(session_sid, sockets)
  ), gone AS (
    DELETE FROM presence p USING changes c
     WHERE p.node_id = $1 AND p.session_sid = c.session_sid AND c.sockets = 0
  )
  INSERT INTO presence (session_sid, node_id, sockets)
  -- The join skips sessions deleted since their sockets connected: their rows would violate
  -- the foreign key, and their sockets are about to be disconnected anyway. Key order: rows
  -- are locked in one order by every writer, which keeps concurrent batches from deadlocking.
  SELECT c.session_sid, $1, c.sockets
    FROM changes c JOIN session s ON s.sid = c.session_sid
   WHERE c.sockets > 0
   ORDER BY c.session_sid
  ON CONFLICT (session_sid, node_id) DO UPDATE SET sockets = EXCLUDED.sockets`;

const FOREIGN_KEY_VIOLATION = '23503';

export function defaultNodeId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export function createPresence(
  deps: { pool: Pool; logger: Logger; metrics?: Pick<Metrics, 'databaseReconnects'> | undefined },
  options: PresenceOptions = {},
) {
  const { pool, logger } = deps;
  const nodeId = options.nodeId ?? defaultNodeId();
  const heartbeatMs = options.heartbeatMs ?? defaults.heartbeatMs;
  const flushDelayMs = options.flushDelayMs ?? defaults.flushDelayMs;
  const sweepEveryMs = options.sweepEveryMs ?? defaults.sweepEveryMs;
  const sweepAfterSeconds = options.sweepAfterSeconds ?? defaults.sweepAfterSeconds;

  /** Invariant: holds exactly the sessions with at least one socket on this node, and how many. */
  const sockets = new Map<string, number>();
  /** Sessions whose count changed since it was last written. */
  const dirty = new Set<string>();

  // Every write of this node goes through one queue, so a flush never overtakes the beat
  // that (re)registers the node, and two flushes never race on the same rows.
  // A write that fails (the database away) is logged once per outage; the counts stay dirty
  // and are written by the next beat that gets through.
  const outage = createOutageLog(logger, 'presence', deps.metrics);
  let queue: Promise<void> = Promise.resolve();
  const enqueue = (task: () => Promise<void>): Promise<void> => {
    queue = queue.then(task).then(
      () => outage.recovered(),
      (error: unknown) => outage.failed(error),
    );
    return queue;
  };

  let flushTimer: NodeJS.Timeout | undefined;
  let beatQueued = false;
  let closed = false;

  const scheduleFlush = (): void => {
    if (flushTimer || closed) return;
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      void enqueue(writeDirty);
    }, flushDelayMs);
  };

  async function writeDirty(): Promise<void> {
    if (dirty.size === 0) return;
    const keys = [...dirty];
    dirty.clear();
    try {
      await pool.query(writeCountsSql, [nodeId, keys, keys.map((key) => sockets.get(key) ?? 0)]);
    } catch (error) {
      // Written again with the then-current counts: by the next beat at the latest.
      for (const key of keys) dirty.add(key);
      // A session deleted between the join and the foreign-key check (the join skips it
      // next time), or this node swept while it was stalled (the next beat registers it
      // again and rewrites every row): both settle on their own.
      if ((error as { code?: string }).code !== FOREIGN_KEY_VIOLATION) throw error;
      logger.debug({ nodeId }, 'presence batch met a deleted session or node; retrying');
    }
  }

  async function beat(): Promise<void> {
    beatQueued = false;
    // After an outage every count is written again: the rows may be gone (this node swept by
    // another meanwhile, or a failover to a server that never had them).
    if (outage.down) for (const key of sockets.keys()) dirty.add(key);
    const { rowCount } = await pool.query('UPDATE presence_nodes SET heartbeat_at = now() WHERE node_id = $1', [nodeId]);
    if (rowCount === 0) {
      // First beat, or this node was swept (stalled past sweepAfterSeconds): its rows went
      // with it, so every count is written again.
      await pool.query(
        `INSERT INTO presence_nodes (node_id) VALUES ($1)
         ON CONFLICT (node_id) DO UPDATE SET heartbeat_at = now()`,
        [nodeId],
      );
      for (const key of sockets.keys()) dirty.add(key);
    }
    if (dirty.size > 0) await writeDirty();
  }

  async function sweep(): Promise<void> {
    const { rowCount } = await pool.query('DELETE FROM presence_nodes WHERE heartbeat_at < now() - make_interval(secs => $1)', [
      sweepAfterSeconds,
    ]);
    if (rowCount) logger.info({ nodes: rowCount }, 'swept presence of dead nodes');
  }

  const queueBeat = (): void => {
    if (beatQueued || closed) return;
    beatQueued = true;
    void enqueue(beat);
  };

  queueBeat();
  const heartbeatTimer = setInterval(queueBeat, heartbeatMs);
  const sweepTimer = setInterval(() => void enqueue(sweep), sweepEveryMs);

  return {
    nodeId,

    /** A socket of this session connected to this node. */
    connected(key: string): void {
      sockets.set(key, (sockets.get(key) ?? 0) + 1);
      dirty.add(key);
      scheduleFlush();
    },

    /** A socket of this session disconnected from this node. */
    disconnected(key: string): void {
      const count = (sockets.get(key) ?? 0) - 1;
      if (count > 0) sockets.set(key, count);
      else sockets.delete(key);
      dirty.add(key);
      scheduleFlush();
    },

    /** The sessions with sockets on this node now. */
    sessionKeys(): string[] {
      return [...sockets.keys()];
    },

    /** Socket count of this node, in memory. */
    localSockets(): number {
      let total = 0;
      for (const count of sockets.values()) total += count;
      return total;
    },

    /**
     * The database is back: beat and write every count now, rather than at the next beat,
     * so the node's visitors count as active again at once.
     */
    rewrite(): void {
      for (const key of sockets.keys()) dirty.add(key);
      queueBeat();
    },

    /** Writes pending changes now (tests, shutdown). */
    flush(): Promise<void> {
      return enqueue(writeDirty);
    },

    /** Stops beating and removes this node and its rows: its sessions stop counting at once. */
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearTimeout(flushTimer);
      clearInterval(heartbeatTimer);
      clearInterval(sweepTimer);
      await enqueue(async () => {
        await pool.query('DELETE FROM presence_nodes WHERE node_id = $1', [nodeId]);
      });
    },
  };
}

export type Presence = ReturnType<typeof createPresence>;

/**
 * Sessions with a connected socket on a live node, and their sockets, over every node.
 * Expired sessions do not count, as in the sessions module's 'active' target.
 */
export async function presenceCounts(pool: Pool): Promise<PresenceCounts> {
  const { rows } = await pool.query<{ active_sessions: string; sockets: string }>(
    `SELECT count(DISTINCT p.session_sid) AS active_sessions, COALESCE(sum(p.sockets), 0) AS sockets
       FROM presence p
       JOIN presence_nodes n ON n.node_id = p.node_id
       JOIN session s ON s.sid = p.session_sid
      WHERE n.heartbeat_at > now() - make_interval(secs => $1) AND s.expire > now()`,
    [PRESENCE_WINDOW_SECONDS],
  );
  return { activeSessions: Number(rows[0]?.active_sessions ?? 0), sockets: Number(rows[0]?.sockets ?? 0) };
}
