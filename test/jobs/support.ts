import { randomBytes } from 'node:crypto';
import type { JobDeps } from '../../jobs/job-definition.ts';
import { migrate } from '../../server/db/migrate.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';
import { createPromotions, type Promotions } from '../../server/promotions/promotions.ts';
import { createPush, type RoomEmitter } from '../../server/realtime/push.ts';
import { createSessions } from '../../server/sessions/sessions.ts';
import type { Flash } from '../../protocol/events.ts';
import { testLogger } from '../support/app.ts';
import { createTestDatabase } from '../support/database.ts';

/** What a round handed to Socket.IO: one entry per emit. */
export interface RecordedEmit {
  rooms: string[];
  event: string;
  payload: Flash;
}

export function recordingEmitter(): RoomEmitter & { emits: RecordedEmit[] } {
  const emits: RecordedEmit[] = [];
  return {
    emits,
    to(room) {
      return {
        emit(event, ...args) {
          emits.push({ rooms: Array.isArray(room) ? [...room] : [room], event, payload: args[0] as Flash });
          return true;
        },
      };
    },
  };
}

export interface JobsTestBed {
  pool: Pool;
  databaseUrl: string;
  deps: JobDeps;
  emitter: ReturnType<typeof recordingEmitter>;
  promotions: Promotions;
  /** A live presence node whose heartbeat is kept fresh while the bed is open. */
  nodeId: string;
  close(): Promise<void>;
}

/** A fresh migrated database with the jobs' dependencies; presence of its own live node. */
export async function startJobsTestBed(): Promise<JobsTestBed> {
  const database = await createTestDatabase();
  await migrate({ databaseUrl: database.url, logger: testLogger });
  const pool = createPool({ url: database.url, logger: testLogger });
  const sessions = createSessions({ pool });
  const emitter = recordingEmitter();
  const push = createPush({ sessions, emitter });
  const nodeId = `test-node-${randomBytes(3).toString('hex')}`;
  await pool.query('INSERT INTO presence_nodes (node_id) VALUES ($1)', [nodeId]);
  // The presence window is a few seconds: beat like a web process would.
  const heartbeat = setInterval(() => {
    pool.query('UPDATE presence_nodes SET heartbeat_at = now() WHERE node_id = $1', [nodeId]).catch(() => undefined);
  }, 500);
  return {
    pool,
    databaseUrl: database.url,
    deps: { pool, logger: testLogger, sessions, push, emitter },
    emitter,
    promotions: createPromotions({ pool }),
    nodeId,
    async close() {
      clearInterval(heartbeat);
      await pool.end();
      await database.drop();
    },
  };
}

/**
 * Inserts `n` sessions keyed `<prefix>-1…n` (unique per call: pass a fresh prefix). `active`
 * gives each a socket on the bed's live node; `expired` makes them expired.
 */
export async function seedSessions(
  bed: JobsTestBed,
  prefix: string,
  n: number,
  options: { active?: boolean; expired?: boolean; node?: string } = {},
): Promise<string[]> {
  const { rows } = await bed.pool.query<{ sid: string }>(
    `INSERT INTO session (sid, sess, expire)
     SELECT $1 || '-' || g, '{"cookie":{}}'::jsonb,
            now() + CASE WHEN $3 THEN interval '-1 minute' ELSE interval '1 hour' END
       FROM generate_series(1, $2) g
     RETURNING sid`,
    [prefix, n, options.expired ?? false],
  );
  const keys = rows.map((row) => row.sid);
  if (options.active) {
    await bed.pool.query(`INSERT INTO presence (session_sid, node_id, sockets) SELECT unnest($1::text[]), $2, 1`, [
      keys,
      options.node ?? bed.nodeId,
    ]);
  }
  return keys;
}

export const uniquePrefix = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

/** Deliveries of these sessions: session → promotion ids. */
export async function deliveriesOf(pool: Pool, keys: readonly string[]): Promise<Map<string, number[]>> {
  const { rows } = await pool.query<{ session_sid: string; ids: number[] }>(
    `SELECT session_sid, array_agg(promotion_id ORDER BY promotion_id) AS ids
       FROM promotion_deliveries WHERE session_sid = ANY($1) GROUP BY session_sid`,
    [keys],
  );
  return new Map(rows.map((row) => [row.session_sid, row.ids]));
}

/** The `promotion` flash of each of these sessions. */
export async function promotionFlashes(
  pool: Pool,
  keys: readonly string[],
): Promise<Map<string, { id: string; message: string; data: Record<string, unknown> }>> {
  const { rows } = await pool.query<{ session_sid: string; id: string; message: string; data: Record<string, unknown> }>(
    `SELECT session_sid, id, message, data FROM flashes WHERE key = 'promotion' AND session_sid = ANY($1)`,
    [keys],
  );
  return new Map(rows.map((row) => [row.session_sid, { id: row.id, message: row.message, data: row.data }]));
}
