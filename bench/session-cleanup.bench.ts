import { createPool, type Pool } from '../server/db/pool.ts';
import { cleanupExpiredSessions, CLEANUP_BATCH_SIZE, type CleanupResult } from '../server/sessions/session-cleanup.ts';
import { sessionKey } from '../server/sessions/session-key.ts';
import { SessionStore } from '../server/sessions/session-store.ts';
import { createSessions } from '../server/sessions/sessions.ts';
import { atLeast, below, equals, percentile, sessionKeySql, timed, type BenchContext, type BenchResult, type Table } from './harness.ts';

/**
 * cleanupExpiredSessions over 200,000 expired sessions that each own a cart with one item,
 * while a reader loads live sessions the way the store's `get` does, one after another.
 */

export const name = 'session-cleanup';

const EXPIRED = 200_000;
const LIVE = 10_000;
const TTL_SECONDS = 86_400;
/** The reader's latency alone, before the cleanup starts. */
const IDLE_READ_MS = 2_000;

const sessSql = `jsonb_build_object(
  'cookie', jsonb_build_object('originalMaxAge', ${TTL_SECONDS * 1000}, 'expires', to_char(e.expire, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                               'secure', false, 'httpOnly', true, 'path', '/', 'sameSite', 'lax'),
  'startedAt', (extract(epoch FROM e.expire) * 1000)::bigint - ${TTL_SECONDS * 1000},
  'recentlyViewed', jsonb_build_array('sku-' || (i % 12), 'sku-' || (i % 7)))`;

/** `count` sessions named `<prefix>-<i>`, expiring at `expireSql`, each with a cart and one item. */
async function seedSessions(pool: Pool, prefix: string, count: number, expireSql: string): Promise<void> {
  await pool.query(
    `INSERT INTO session (sid, sess, expire)
     SELECT ${sessionKeySql(`'${prefix}-' || i`)}, ${sessSql}, e.expire
       FROM generate_series(1, $1) i, LATERAL (SELECT ${expireSql} AS expire) e`,
    [count],
  );
  await pool.query(`INSERT INTO carts (session_sid) SELECT ${sessionKeySql(`'${prefix}-' || i`)} FROM generate_series(1, $1) i`, [count]);
  await pool.query(
    `INSERT INTO cart_items (session_sid, sku, qty) SELECT ${sessionKeySql(`'${prefix}-' || i`)}, 'sku-' || (i % 12), 1 + i % 3
       FROM generate_series(1, $1) i`,
    [count],
  );
}

async function walBytes(pool: Pool): Promise<bigint> {
  const { rows } = await pool.query<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn AS lsn`);
  return BigInt(rows[0]!.lsn);
}

async function count(pool: Pool, sql: string): Promise<number> {
  return Number((await pool.query<{ n: string }>(`SELECT (${sql}) AS n`)).rows[0]!.n);
}

/** Loads random live sessions through the store, one at a time, until stopped; each read's ms. */
function startReader(store: SessionStore): { stop(): Promise<number[]> } {
  const latencies: number[] = [];
  let running = true;
  const get = (id: string) =>
    new Promise<unknown>((resolve, reject) => store.get(id, (error, value) => (error ? reject(error) : resolve(value))));
  const loop = (async () => {
    while (running) {
      const id = `live-${1 + Math.floor(Math.random() * LIVE)}`;
      const { ms, value } = await timed(() => get(id));
      if (!value) throw new Error(`live session ${id} was not found during the cleanup`);
      latencies.push(ms);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return latencies;
    },
  };
}

interface Captured {
  text: string;
  values: unknown[];
}

/** The first statement whose text matches, as sent through the pool. */
function captureStatement(pool: Pool, match: RegExp): { get(): Captured | undefined; restore(): void } {
  let captured: Captured | undefined;
  const original = pool.query;
  pool.query = function (this: Pool, ...args: unknown[]) {
    if (!captured && typeof args[0] === 'string' && match.test(args[0])) {
      captured = { text: args[0], values: Array.isArray(args[1]) ? args[1] : [] };
    }
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as Pool['query'];
  return {
    get: () => captured,
    restore: () => {
      pool.query = original;
    },
  };
}

const ms = (value: number) => Number(value.toFixed(value < 10 ? 2 : 0));

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const pool = createPool({ url: ctx.databaseUrl, logger: ctx.logger });
  const readerPool = createPool({ url: ctx.databaseUrl, logger: ctx.logger, max: 1 });
  try {
    const seeded = await timed(async () => {
      // Expired from one minute to a day ago, so cleanup's ORDER BY expire has work to do.
      await seedSessions(pool, 'expired', EXPIRED, `now() - make_interval(secs => 60 + (i * 7919) % ${TTL_SECONDS})`);
      await seedSessions(pool, 'live', LIVE, `now() + make_interval(secs => ${TTL_SECONDS} - (i % 600))`);
      await createSessions({ pool }).writeFlash('all', { key: 'notice', message: 'Welcome back' });
    });
    const probeKey = (await pool.query<{ sid: string }>(`SELECT ${sessionKeySql("'live-1'")} AS sid`)).rows[0]!.sid;
    if (probeKey !== sessionKey('live-1')) throw new Error('the SQL key formula does not match sessionKey()');
    await pool.query('VACUUM ANALYZE');
    await pool.query('CHECKPOINT');
    ctx.logger.info(`seeded ${EXPIRED} expired and ${LIVE} live sessions with carts in ${Math.round(seeded.ms)} ms`);

    const store = new SessionStore({ pool: readerPool, ttlSeconds: TTL_SECONDS });
    const idleReader = startReader(store);
    await new Promise((resolve) => setTimeout(resolve, IDLE_READ_MS));
    const idleLatencies = await idleReader.stop();

    const capture = captureStatement(pool, /DELETE FROM session/);
    const batchMs: number[] = [];
    let lastBatchAt = performance.now();
    const walBefore = await walBytes(pool);
    const reader = startReader(store);
    let cleanup: { ms: number; value: CleanupResult };
    try {
      cleanup = await timed(() =>
        cleanupExpiredSessions(pool, {
          onProgress: () => {
            const now = performance.now();
            batchMs.push(now - lastBatchAt);
            lastBatchAt = now;
          },
        }),
      );
    } finally {
      capture.restore();
    }
    const latencies = await reader.stop();
    const walMiB = Math.round(Number((await walBytes(pool)) - walBefore) / 2 ** 20);
    const perSecond = Math.round(cleanup.value.sessions / (cleanup.ms / 1000));

    const expiredLeft = await count(pool, 'SELECT count(*) FROM session WHERE expire <= now()');
    const orphans = await count(
      pool,
      `(SELECT count(*) FROM carts c WHERE NOT EXISTS (SELECT 1 FROM session s WHERE s.sid = c.session_sid))
       + (SELECT count(*) FROM cart_items i WHERE NOT EXISTS (SELECT 1 FROM carts c WHERE c.session_sid = i.session_sid))
       + (SELECT count(*) FROM flashes f WHERE NOT EXISTS (SELECT 1 FROM session s WHERE s.sid = f.session_sid))`,
    );
    const liveIntact = await count(
      pool,
      `SELECT count(*) FROM session s
         JOIN carts c ON c.session_sid = s.sid
         JOIN cart_items i ON i.session_sid = s.sid
         JOIN flashes f ON f.session_sid = s.sid
        WHERE s.expire > now()`,
    );

    // One batch under EXPLAIN ANALYZE, on a fresh set of expired sessions shaped the same way.
    const explain = await explainOneBatch(pool, capture.get());

    const sortedBatches = [...batchMs].sort((a, b) => a - b);
    return {
      goals: [
        atLeast('expired sessions deleted per second (with cart and item)', perSecond, 50_000, 'sessions/s'),
        below('concurrent reader p99 during cleanup', ms(percentile(latencies, 99)), 20, 'ms', {
          name: 'same reader before cleanup',
          value: ms(percentile(idleLatencies, 99)),
        }),
        equals('orphaned carts, items and flashes afterwards', orphans, 0, 'rows'),
        equals('expired sessions left', expiredLeft, 0, 'sessions'),
        equals('live sessions intact (with cart, item, flash)', liveIntact, LIVE, 'sessions'),
      ],
      tables: [
        {
          title: `cleanupExpiredSessions, ${EXPIRED.toLocaleString('en-US')} expired sessions, batch size ${CLEANUP_BATCH_SIZE}`,
          columns: [
            'deleted',
            'batches',
            'seconds',
            'sessions/s',
            'batch ms: min / median / max',
            'WAL MiB',
            'reader reads',
            'reader p50 / p99 / max ms',
            'idle reader p50 / p99 ms',
          ],
          rows: [
            [
              cleanup.value.sessions,
              cleanup.value.batches,
              Number((cleanup.ms / 1000).toFixed(2)),
              perSecond,
              `${ms(sortedBatches[0] ?? 0)} / ${ms(percentile(batchMs, 50))} / ${ms(sortedBatches[sortedBatches.length - 1] ?? 0)}`,
              walMiB,
              latencies.length,
              `${ms(percentile(latencies, 50))} / ${ms(percentile(latencies, 99))} / ${ms(Math.max(...latencies))}`,
              `${ms(percentile(idleLatencies, 50))} / ${ms(percentile(idleLatencies, 99))}`,
            ],
          ],
        },
        ...(explain ? [explain.table] : []),
      ],
      notes: [
        `Seeded set-based (INSERT … SELECT generate_series): ${EXPIRED.toLocaleString('en-US')} expired sessions each with a cart and one cart item, ${LIVE.toLocaleString('en-US')} live ones with cart, item and a flash; VACUUM ANALYZE and CHECKPOINT before the run.`,
        'The reader is SessionStore.get on a pool of its own (one connection), loading a random live session in a loop; its latency includes the Node side (hash, JSON) and waits for the CPU the cleanup uses. Looping without pause, it keeps about one core busy (Node and its backend), which the cleanup cannot use.',
        ...(explain
          ? [
              `In the EXPLAINed batch, the FK cascade triggers (one call per deleted row and constraint) took ${Math.round(explain.triggerMs)} of ${Math.round(explain.executionMs)} ms (${Math.round((explain.triggerMs / explain.executionMs) * 100)}%).`,
            ]
          : []),
      ],
    };
  } finally {
    await readerPool.end();
    await pool.end();
  }
}

/** EXPLAIN ANALYZE of the cleanup's own batch statement, with the time spent in each FK cascade. */
async function explainOneBatch(
  pool: Pool,
  statement: Captured | undefined,
): Promise<{ table: Table; triggerMs: number; executionMs: number } | undefined> {
  if (!statement) return undefined;
  await seedSessions(pool, 'explain', CLEANUP_BATCH_SIZE, `now() - make_interval(secs => 60 + i)`);
  await pool.query('VACUUM ANALYZE');
  const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${statement.text}`, statement.values);
  const plan = rows.map((row) => row['QUERY PLAN']);
  const tableRows: Array<Array<string | number>> = [];
  let triggerMs = 0;
  let executionMs = 0;
  for (const line of plan) {
    const trigger = /^Trigger for constraint (\S+)(?: on (\S+))?: time=([\d.]+) calls=(\d+)/.exec(line.trim());
    if (trigger) {
      tableRows.push([`FK cascade ${trigger[1]}${trigger[2] ? ` (on ${trigger[2]})` : ''}`, Number(trigger[3]), Number(trigger[4])]);
      triggerMs += Number(trigger[3]);
    }
    const total = /^(Planning|Execution) Time: ([\d.]+) ms/.exec(line.trim());
    if (total) {
      tableRows.push([`${total[1]} time (total)`, Number(total[2]), '']);
      if (total[1] === 'Execution') executionMs = Number(total[2]);
    }
    // A full scan per batch makes each batch cost grow with the table.
    const scan = /Seq Scan on (\S+).*actual time=[\d.]+\.\.([\d.]+) rows=([\d.]+)/.exec(line);
    if (scan) tableRows.push([`of which Seq Scan on ${scan[1]} (${Number(scan[3]).toLocaleString('en-US')} rows)`, Number(scan[2]), 1]);
  }
  return {
    table: { title: `One batch of ${CLEANUP_BATCH_SIZE} under EXPLAIN ANALYZE (ms)`, columns: ['part', 'ms', 'calls'], rows: tableRows },
    triggerMs,
    executionMs,
  };
}
