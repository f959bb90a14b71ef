import { randomUUID } from 'node:crypto';
import { createPool, type Pool } from '../server/db/pool.ts';
import { sessionKey } from '../server/sessions/session-key.ts';
import { SessionStore } from '../server/sessions/session-store.ts';
import { createSessions } from '../server/sessions/sessions.ts';
import { percentile, sessionKeySql, timed, type BenchContext, type BenchResult, type Table } from './harness.ts';

/**
 * DESIGN.md's two homes for flashes, measured side by side:
 * (a) the flashes table (ours): a push is sessions.writeFlash, an INSERT … ON CONFLICT;
 * (b) inside `sess`: a push is one set-based UPDATE … SET sess = jsonb_set(…), here on a scratch
 *     table shaped like `session`.
 * For each size: the time of a push to all (a new key, then the same key again), of a push to
 * a list, the WAL each writes, and what a request pays to read a session with its flashes.
 */

export const name = 'flash-storage';

const SIZES = [10_000, 100_000];
const LIST_SIZE = 1_000;
const READS = 2_000;
const TTL_SECONDS = 86_400;

const sessSql = `jsonb_build_object(
  'cookie', jsonb_build_object('originalMaxAge', ${TTL_SECONDS * 1000}, 'expires', '2030-01-01T00:00:00.000Z',
                               'secure', false, 'httpOnly', true, 'path', '/', 'sameSite', 'lax'),
  'startedAt', 1700000000000 + i,
  'recentlyViewed', jsonb_build_array('sku-' || (i % 12), 'sku-' || (i % 7), 'sku-' || (i % 5)))`;

/** (b): merges one flash under its key into `sess.flash`, for every live session the filter names. */
const jsonbPushSql = (filter: string) => `
  UPDATE session_jsonb s
     SET sess = jsonb_set(s.sess, '{flash}',
                          COALESCE(s.sess -> 'flash', '{}'::jsonb)
                          || jsonb_build_object($1::text, jsonb_build_object('id', $2::uuid, 'key', $1::text, 'message', $3::text,
                                                                             'createdAt', now())))
   WHERE s.expire > now() ${filter}`;

interface Push {
  ms: number;
  sessions: number;
  walKiB: number;
}

async function walBytes(pool: Pool): Promise<bigint> {
  const { rows } = await pool.query<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn AS lsn`);
  return BigInt(rows[0]!.lsn);
}

async function push(pool: Pool, fn: () => Promise<number>): Promise<Push> {
  const before = await walBytes(pool);
  const { ms, value } = await timed(fn);
  return { ms, sessions: value, walKiB: Number((await walBytes(pool)) - before) / 1024 };
}

/** Each read's µs, one after another on one connection, over random sessions. */
async function readLatencies(size: number, read: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 200; i++) await read(1 + Math.floor(Math.random() * size)); // warm caches and plans
  const latencies: number[] = [];
  for (let i = 0; i < READS; i++) {
    const { ms, value } = await timed(() => read(1 + Math.floor(Math.random() * size)));
    if (!value) throw new Error('a read found no session');
    latencies.push(ms * 1000);
  }
  return latencies;
}

async function sizeOf(pool: Pool, tables: string[]): Promise<number> {
  const { rows } = await pool.query<{ bytes: string }>(
    `SELECT sum(pg_total_relation_size(t::regclass)) AS bytes FROM unnest($1::text[]) t`,
    [tables],
  );
  return Math.round(Number(rows[0]!.bytes) / 2 ** 20);
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const pool = createPool({ url: ctx.databaseUrl, logger: ctx.logger, max: 2 });
  const readPool = createPool({ url: ctx.databaseUrl, logger: ctx.logger, max: 1 });
  const sessions = createSessions({ pool });
  const store = new SessionStore({ pool: readPool, ttlSeconds: TTL_SECONDS });
  const pushRows: Array<Array<string | number>> = [];
  const readRows: Array<Array<string | number>> = [];
  const sizeRows: Array<Array<string | number>> = [];
  let headline = '';
  try {
    await pool.query(`CREATE TABLE session_jsonb (sid text PRIMARY KEY, sess jsonb NOT NULL, expire timestamptz NOT NULL)`);
    await pool.query(`CREATE INDEX session_jsonb_expire_idx ON session_jsonb (expire)`);

    for (const size of SIZES) {
      await pool.query('TRUNCATE session, session_jsonb CASCADE');
      for (const table of ['session', 'session_jsonb']) {
        await pool.query(
          `INSERT INTO ${table} (sid, sess, expire)
           SELECT ${sessionKeySql(`'s-' || i`)}, ${sessSql}, now() + make_interval(secs => ${TTL_SECONDS} - i % 600)
             FROM generate_series(1, $1) i`,
          [size],
        );
      }
      await pool.query('VACUUM ANALYZE');
      await pool.query('CHECKPOINT');
      const list = (await pool.query<{ sid: string }>(`SELECT sid FROM session ORDER BY random() LIMIT ${LIST_SIZE}`)).rows.map(
        (row) => row.sid,
      );
      ctx.logger.info(`${size} sessions: pushing`);

      const table = {
        first: await push(pool, async () => (await sessions.writeFlash('all', { key: 'notice', message: 'Welcome' })).sessions),
        again: await push(pool, async () => (await sessions.writeFlash('all', { key: 'notice', message: 'Welcome again' })).sessions),
        list: await push(pool, async () => (await sessions.writeFlash({ sessions: list }, { key: 'notice', message: 'For you' })).sessions),
      };
      const jsonbPush = async (filter: string, params: unknown[], message: string) =>
        (await pool.query(jsonbPushSql(filter), ['notice', randomUUID(), message, ...params])).rowCount ?? 0;
      const jsonb = {
        first: await push(pool, () => jsonbPush('', [], 'Welcome')),
        again: await push(pool, () => jsonbPush('', [], 'Welcome again')),
        list: await push(pool, () => jsonbPush('AND s.sid = ANY($4::text[])', [list], 'For you')),
      };
      for (const [way, pushes] of [
        ['(a) flashes table: writeFlash', table],
        ['(b) sess jsonb: UPDATE … jsonb_set', jsonb],
      ] as const) {
        pushRows.push([
          size,
          way,
          Math.round(pushes.first.ms),
          Math.round(pushes.again.ms),
          Math.round(pushes.list.ms),
          Math.round((pushes.first.walKiB + pushes.again.walKiB) / 1024),
        ]);
        if (pushes.first.sessions !== size || pushes.again.sessions !== size || pushes.list.sessions !== LIST_SIZE) {
          throw new Error(`${way}: a push reached ${pushes.first.sessions}/${pushes.again.sessions}/${pushes.list.sessions} sessions`);
        }
      }
      sizeRows.push([size, await sizeOf(pool, ['session', 'flashes']), await sizeOf(pool, ['session_jsonb'])]);
      if (size === SIZES[SIZES.length - 1]) {
        headline = `push to all ${size.toLocaleString('en-US')}: flashes table ${Math.round(table.again.ms)} ms vs sess jsonb ${Math.round(jsonb.again.ms)} ms (replacing a key), WAL ${Math.round(table.again.walKiB / 1024)} vs ${Math.round(jsonb.again.walKiB / 1024)} MiB`;
      }

      await pool.query('VACUUM ANALYZE');
      const get = (i: number) =>
        new Promise<unknown>((resolve, reject) => store.get(`s-${i}`, (error, value) => (error ? reject(error) : resolve(value))));
      const ours = await readLatencies(size, get);
      const plainSql = 'SELECT sess FROM session_jsonb WHERE sid = $1 AND expire > now()';
      const plain = await readLatencies(size, (i) => readPool.query(plainSql, [keyFor(i)]).then((r) => r.rows[0]));
      const plainPrepared = await readLatencies(size, (i) =>
        readPool.query({ name: 'bench-plain-get', text: plainSql, values: [keyFor(i)] }).then((r) => r.rows[0]),
      );
      for (const [way, latencies] of [
        ['(a) our store.get (session + flashes subquery, a named prepared statement)', ours],
        ['(b) plain SELECT sess', plain],
        ['(b) plain SELECT sess, named prepared statement', plainPrepared],
      ] as const) {
        const mean = latencies.reduce((sum, value) => sum + value, 0) / latencies.length;
        readRows.push([size, way, Math.round(mean), Math.round(percentile(latencies, 50)), Math.round(percentile(latencies, 99))]);
      }
    }
  } finally {
    await readPool.end();
    await pool.end();
  }

  const tables: Table[] = [
    {
      title: `Pushing one flash (ms; WAL of both pushes to all, MiB); list = ${LIST_SIZE.toLocaleString('en-US')} random sessions`,
      columns: ['sessions', 'way', 'to all, new key', 'to all, same key again', 'to a list', 'WAL MiB'],
      rows: pushRows,
    },
    {
      title: `Reading one session with its flash (µs, ${READS.toLocaleString('en-US')} sequential reads of random sessions, one connection)`,
      columns: ['sessions', 'read', 'mean', 'p50', 'p99'],
      rows: readRows,
    },
    {
      title: 'Table size after the pushes, indexes included (MiB)',
      columns: ['sessions', '(a) session + flashes', '(b) session_jsonb'],
      rows: sizeRows,
    },
  ];
  return {
    goals: [],
    tables,
    notes: [
      `Headline: ${headline}.`,
      '(b) rewrites every session row on a push (a new row version with its whole `sess`, plus index entries where HOT is impossible), so its time and WAL grow with the size of `sess`; (a) writes one small row per session and never touches `session`, so a request save cannot erase a pushed flash and needs no merge.',
      'Reads in (a) join the flashes table in a correlated subquery; the store sends it as a named prepared statement, because as an unnamed one PostgreSQL planned it on every call, which cost more than running it.',
    ],
  };
}

/** The stored key of session `s-<i>`: the same as `sessionKeySql` computes in SQL. */
function keyFor(i: number): string {
  return sessionKey(`s-${i}`);
}
