import os from 'node:os';
import { PROMOTION_ROUND_SQL, runPromotionRound, type PromotionRoundResult } from '../server/promotions/promotion-round.ts';
import { createPool, type Pool } from '../server/db/pool.ts';
import type { RoomEmitter } from '../server/realtime/push.ts';
import { activeSessionKeysSql } from '../server/sessions/active-sessions.ts';
import { sessionKey } from '../server/sessions/session-key.ts';
import { createPromotions } from '../server/promotions/promotions.ts';
import {
  atLeast,
  below,
  equals,
  measurePostgresCpu,
  ownCpuMs,
  percentile,
  sessionKeySql,
  timed,
  type BenchContext,
  type BenchResult,
  type Table,
} from './harness.ts';

/**
 * One promotion round over 100,000 sessions, 20,000 of them active, with 20 promotions,
 * next to the seeds' approach on the same data in the same run: read the active sessions,
 * then for each one load the session, pick a promotion in JS, and save the session back,
 * one visitor at a time.
 */

export const name = 'promotion-round';

const SESSIONS = 100_000;
/** Every fifth session has a socket: 20,000. */
const ACTIVE_EVERY = 5;
const ACTIVE = SESSIONS / ACTIVE_EVERY;
const PROMOTIONS = 20;
/** Rounds of ours measured one after another: the later ones run against a delivery history. */
const ROUNDS = 5;
const TTL_SECONDS = 86_400;
const NODE_ID = 'bench-node';

/** Sessions shaped as express-session stores them, some with a recently-viewed list. */
async function seed(pool: Pool): Promise<void> {
  await pool.query(
    `INSERT INTO session (sid, sess, expire)
     SELECT ${sessionKeySql(`'visitor-' || i`)},
            jsonb_build_object(
              'cookie', jsonb_build_object('originalMaxAge', ${TTL_SECONDS * 1000}, 'expires', to_char(now() + interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                                           'secure', false, 'httpOnly', true, 'path', '/', 'sameSite', 'lax'),
              'recentlyViewed', jsonb_build_array('sku-' || (i % 12), 'sku-' || (i % 7))),
            now() + interval '1 day'
       FROM generate_series(1, $1) i`,
    [SESSIONS],
  );
  await pool.query('INSERT INTO presence_nodes (node_id) VALUES ($1)', [NODE_ID]);
  await pool.query(
    `INSERT INTO presence (session_sid, node_id, sockets)
     SELECT ${sessionKeySql(`'visitor-' || i`)}, $1, 1 FROM generate_series(${ACTIVE_EVERY}, $2, ${ACTIVE_EVERY}) i`,
    [NODE_ID, SESSIONS],
  );
  const promotions = createPromotions({ pool });
  for (let i = 1; i <= PROMOTIONS; i += 1) {
    await promotions.create({
      name: `Promotion ${i}`,
      callToAction: `Deal number ${i}: ${i * 5}% off today`,
      url: `/deals/${i}`,
      active: true,
      weight: 1 + (i % 4),
    });
  }
}

/** The presence window is seconds long: the bench's node beats before each measured part. */
const beat = (pool: Pool) => pool.query('UPDATE presence_nodes SET heartbeat_at = now() WHERE node_id = $1', [NODE_ID]);

interface SeedPromotion {
  id: number;
  call_to_action: string;
  url: string | null;
  weight: number;
}

/**
 * The seeds' round, faithfully: the list of active sessions, then per visitor a load of the
 * session and a save of it with the promotion written into it (flash and seen list in
 * `sess`, as the seeds kept them). Sequential, through the pool, one visitor at a time.
 */
async function seedsRound(pool: Pool): Promise<{ sessions: number; statements: number }> {
  let statements = 0;
  const query = async <R extends object>(text: string, values?: unknown[]) => {
    statements += 1;
    return (await pool.query<R & import('pg').QueryResultRow>(text, values)).rows;
  };
  const promotions = await query<SeedPromotion>(
    `SELECT id, call_to_action, url, weight FROM promotions
      WHERE active AND (starts_at IS NULL OR starts_at <= now()) AND (ends_at IS NULL OR ends_at > now())`,
  );
  const active = await query<{ sid: string }>(`SELECT s.sid FROM session s WHERE s.expire > now() AND s.sid IN (${activeSessionKeysSql})`);
  let given = 0;
  for (const { sid } of active) {
    const [row] = await query<{ sess: Record<string, unknown> & { promotionsSeen?: number[]; flash?: Record<string, unknown> } }>(
      'SELECT sess FROM session WHERE sid = $1 AND expire > now()',
      [sid],
    );
    if (!row) continue;
    const sess = row.sess;
    const seen = new Set(sess.promotionsSeen ?? []);
    const eligible = promotions.filter((promotion) => !seen.has(promotion.id));
    if (eligible.length === 0) continue;
    let ticket = Math.random() * eligible.reduce((sum, promotion) => sum + promotion.weight, 0);
    const pick =
      eligible.find((promotion) => {
        ticket -= promotion.weight;
        return ticket < 0;
      }) ?? eligible[eligible.length - 1]!;
    sess.promotionsSeen = [...seen, pick.id];
    sess.flash = { ...sess.flash, promotion: { message: pick.call_to_action, promotionId: pick.id, url: pick.url } };
    await query('UPDATE session SET sess = $2 WHERE sid = $1', [sid, sess]);
    given += 1;
  }
  return { sessions: given, statements };
}

/** An emitter that counts what a round hands to Socket.IO (no sockets are connected here). */
function countingEmitter(): RoomEmitter & { emits: number; rooms: number; bytes: number } {
  const counter = {
    emits: 0,
    rooms: 0,
    bytes: 0,
    to(room: string | string[]) {
      return {
        emit: (_event: string, ...args: unknown[]) => {
          counter.emits += 1;
          counter.rooms += Array.isArray(room) ? room.length : 1;
          // What an adapter serializes for another process: the packet and its rooms.
          counter.bytes += JSON.stringify({ room, args }).length;
          return true;
        },
      };
    },
  };
  return counter as RoomEmitter & typeof counter;
}

const ms = (value: number) => Number(value.toFixed(value < 10 ? 2 : 0));

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const pool = createPool({ url: ctx.databaseUrl, logger: ctx.logger });
  try {
    const seeded = await timed(() => seed(pool));
    if ((await pool.query<{ sid: string }>(`SELECT ${sessionKeySql("'visitor-1'")} AS sid`)).rows[0]!.sid !== sessionKey('visitor-1')) {
      throw new Error('the SQL key formula does not match sessionKey()');
    }
    await pool.query('VACUUM ANALYZE');
    await pool.query('CHECKPOINT');
    ctx.logger.info(`seeded ${SESSIONS} sessions (${ACTIVE} active) and ${PROMOTIONS} promotions in ${Math.round(seeded.ms)} ms`);

    // Ours, on the fresh data, then again on a growing delivery history.
    const emitter = countingEmitter();
    const rounds: Array<{ ms: number; value: PromotionRoundResult }> = [];
    await beat(pool);
    const oursCpu = await measureCpu(pool);
    rounds.push(await timed(() => runPromotionRound({ pool, emitter })));
    const firstCpu = await oursCpu.stop();
    const firstEmits = { emits: emitter.emits, rooms: emitter.rooms, bytes: emitter.bytes };

    // The seeds' loop, same data, same run.
    await beat(pool);
    const seedsCpu = await measureCpu(pool);
    const seeds = await timed(() => seedsRound(pool));
    const seedsCpuMs = await seedsCpu.stop();
    ctx.logger.info(`seeds' round: ${seeds.value.sessions} sessions in ${Math.round(seeds.ms)} ms`);

    for (let round = 2; round <= ROUNDS; round += 1) {
      await beat(pool);
      rounds.push(await timed(() => runPromotionRound({ pool, emitter })));
    }

    const deliveries = Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM promotion_deliveries')).rows[0]!.n);
    const repeats = Number(
      (
        await pool.query<{ n: string }>(
          'SELECT count(*) AS n FROM (SELECT 1 FROM promotion_deliveries GROUP BY session_sid, promotion_id HAVING count(*) > 1) r',
        )
      ).rows[0]!.n,
    );
    const flashes = Number((await pool.query<{ n: string }>(`SELECT count(*) AS n FROM flashes WHERE key = 'promotion'`)).rows[0]!.n);
    const totals = Number((await pool.query<{ n: string }>('SELECT sum(delivered) AS n FROM promotion_stats')).rows[0]!.n);

    const explain = await explainRound(pool);
    const first = rounds[0]!;
    const median = percentile(
      rounds.map((round) => round.ms),
      50,
    );
    const speedUp = Number((seeds.ms / first.ms).toFixed(1));

    return {
      goals: [
        atLeast("speed-up over the seeds' loop (its time ÷ our first round's, same data)", speedUp, 50, '×', {
          name: "seeds' loop, ms",
          value: ms(seeds.ms),
        }),
        below(
          `one round, ${ACTIVE.toLocaleString('en-US')} active of ${SESSIONS.toLocaleString('en-US')} sessions (median of ${ROUNDS})`,
          ms(median),
          1000,
          'ms',
        ),
        equals('sessions given a promotion in the first round', first.value.sessions, ACTIVE, 'sessions'),
        equals('repeated (session, promotion) deliveries', repeats, 0, 'rows'),
        atLeast('promotion flashes written (one per active session)', flashes, ACTIVE, 'flashes'),
      ],
      tables: [
        {
          title: `One round, ${SESSIONS.toLocaleString('en-US')} sessions, ${ACTIVE.toLocaleString('en-US')} active, ${PROMOTIONS} promotions`,
          columns: ['approach', 'ms', 'sessions given a promotion', 'statements', 'emits'],
          rows: [
            ['seeds: load, pick in JS, save back, one visitor at a time', ms(seeds.ms), seeds.value.sessions, seeds.value.statements, 0],
            ...rounds.map((round, index) => [
              `ours, round ${index + 1}${index === 0 ? ' (no history)' : ` (${index} earlier rounds delivered)`}`,
              ms(round.ms),
              round.value.sessions,
              4,
              Object.keys(round.value.promotions).length,
            ]),
          ],
        },
        {
          title: 'CPU time of the first round (ms): wall time on a busy machine includes waiting for a core; CPU time does not',
          columns: ['approach', 'PostgreSQL CPU', 'Node CPU', 'wall', 'WAL written, MiB'],
          rows: [
            ["seeds' loop", seedsCpuMs.postgres, seedsCpuMs.node, ms(seeds.ms), seedsCpuMs.walMiB],
            ['ours, round 1 (first writes after a checkpoint)', firstCpu.postgres, firstCpu.node, ms(first.ms), firstCpu.walMiB],
          ],
        },
        ...(explain ? [explain] : []),
      ],
      notes: [
        `Seeded set-based: ${SESSIONS.toLocaleString('en-US')} sessions, every ${ACTIVE_EVERY}th with a presence row on one live node, ${PROMOTIONS} promotions with weights 1 to 4; VACUUM ANALYZE and CHECKPOINT before measuring.`,
        `Ours is runPromotionRound as the job runs it: BEGIN, the round lock, one statement (pick, deliveries, flashes, totals), COMMIT, then one emit per promotion to the rooms of the sessions that got it. The emitter here counts instead of sending (no sockets are connected): round 1 handed it ${firstEmits.emits} emits for ${firstEmits.rooms.toLocaleString('en-US')} rooms, ${Math.round(firstEmits.bytes / 1024)} KiB as JSON.`,
        `The seeds' loop: ${seeds.value.statements.toLocaleString('en-US')} statements for one round (a load and a save per visitor), no push; it keeps the seen list and the flash inside \`sess\`, as the seeds did.`,
        `After ${ROUNDS} rounds of ours: ${deliveries.toLocaleString('en-US')} deliveries, per-promotion totals ${totals.toLocaleString('en-US')}, no (session, promotion) pair twice.`,
        "Where a round goes: two row writes per visitor (its delivery and its flash) with their index entries, the foreign-key checks on `session`, and the key-share lock on each visitor's session row (the checks need it anyway; the round takes it first so a concurrent logout cannot deadlock with it). After a checkpoint every page so touched is logged whole (the WAL column). Choosing the promotions (`drawn` and the retries) is a small part.",
        `Load average (1 min) when the rounds ended: ${os.loadavg()[0]!.toFixed(1)} on ${os.availableParallelism()} cores; other work on the machine slows both approaches.`,
      ],
    };
  } finally {
    await pool.end();
  }
}

/** CPU used by the PostgreSQL server and by this process while something runs. */
async function measureCpu(pool: Pool): Promise<{ stop(): Promise<{ postgres: number; node: number; walMiB: number }> }> {
  const walLsn = async () => (await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
  const walBefore = await walLsn();
  const postgres = await measurePostgresCpu(pool);
  const node = ownCpuMs();
  return {
    async stop() {
      const cpu = { postgres: Math.round(await postgres.stop()), node: Math.round(ownCpuMs() - node) };
      const { rows } = await pool.query<{ bytes: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) AS bytes', [
        walBefore,
      ]);
      return { ...cpu, walMiB: Number((Number(rows[0]!.bytes) / 2 ** 20).toFixed(1)) };
    },
  };
}

/** A further round under EXPLAIN ANALYZE, rolled back: where its time goes. */
async function explainRound(pool: Pool): Promise<Table | undefined> {
  const client = await pool.connect();
  try {
    await beat(pool);
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${PROMOTION_ROUND_SQL}`);
    await client.query('ROLLBACK');
    const tableRows: Array<Array<string | number>> = [];
    const plan = rows.map((row) => row['QUERY PLAN']);
    for (const [index, line] of plan.entries()) {
      // Each CTE's own node: its time includes the CTEs it reads that ran inside it.
      const cte = /^\s*CTE (\w+)$/.exec(line);
      const node = cte && /actual time=[\d.]+\.\.([\d.]+) rows=([\d.]+)/.exec(plan[index + 1] ?? '');
      if (cte && node) tableRows.push([`CTE ${cte[1]} (inclusive)`, Number(node[1]), Number(node[2])]);
      const trigger = /^Trigger for constraint (\S+)(?: on (\S+))?: time=([\d.]+) calls=(\d+)/.exec(line.trim());
      if (trigger) tableRows.push([`FK check ${trigger[1]}`, Number(trigger[3]), Number(trigger[4])]);
      const total = /^(Planning|Execution) Time: ([\d.]+) ms/.exec(line.trim());
      if (total) tableRows.push([`${total[1]} time (total)`, Number(total[2]), '']);
    }
    return {
      title: 'Round 6 under EXPLAIN ANALYZE, rolled back (ms; EXPLAIN adds its own overhead)',
      columns: ['part', 'ms', 'rows or calls'],
      rows: tableRows,
    };
  } catch {
    await client.query('ROLLBACK').catch(() => undefined);
    return undefined;
  } finally {
    client.release();
  }
}
