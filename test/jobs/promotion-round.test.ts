import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROMOTION_ROUND } from '../../jobs/promotion-round.ts';
import { runPromotionRound } from '../../server/promotions/promotion-round.ts';
import { startJobs } from '../../jobs/jobs.ts';
import { sessionRoom } from '../../server/realtime/rooms.ts';
import { deliveriesOf, promotionFlashes, seedSessions, startJobsTestBed, uniquePrefix, type JobsTestBed } from './support.ts';

let bed: JobsTestBed;

beforeEach(async () => {
  bed = await startJobsTestBed();
});
afterEach(() => bed.close());

const round = () => runPromotionRound({ pool: bed.pool, emitter: bed.emitter });

async function createPromotion(
  name: string,
  extra: { weight?: number; active?: boolean; startsAt?: string; endsAt?: string; url?: string } = {},
) {
  return bed.promotions.create({
    name,
    callToAction: `${name}: buy now`,
    active: extra.active ?? true,
    weight: extra.weight ?? 1,
    ...extra,
  });
}

describe('when visitors are active and promotions are eligible', () => {
  it('then each round gives every active session exactly one promotion it never had, until none is left', async () => {
    const promotions = await Promise.all(['A', 'B', 'C'].map((name) => createPromotion(name)));
    const keys = await seedSessions(bed, uniquePrefix('visitor'), 25, { active: true });

    const seen = new Map<string, number[]>(keys.map((key) => [key, []]));
    for (let n = 1; n <= 3; n += 1) {
      const result = await round();
      expect(result.sessions).toBe(25);
      expect(Object.values(result.promotions).reduce((a, b) => a + b, 0)).toBe(25);
      const deliveries = await deliveriesOf(bed.pool, keys);
      const flashes = await promotionFlashes(bed.pool, keys);
      for (const key of keys) {
        const given = deliveries.get(key)!;
        expect(given).toHaveLength(n);
        const fresh = given.filter((id) => !seen.get(key)!.includes(id));
        expect(fresh).toHaveLength(1);
        seen.set(key, given);
        // The flash is the new one: its message is that promotion's call to action.
        const promotion = promotions.find((p) => p.id === fresh[0])!;
        expect(flashes.get(key)).toMatchObject({ message: promotion.callToAction, data: { promotionId: promotion.id } });
      }
    }

    // Nothing left: the next round skips them all and writes nothing.
    bed.emitter.emits.length = 0;
    const before = await promotionFlashes(bed.pool, keys);
    const empty = await round();
    expect(empty).toEqual({ sessions: 0, promotions: {} });
    expect(bed.emitter.emits).toEqual([]);
    expect(await promotionFlashes(bed.pool, keys)).toEqual(before);
    for (const given of (await deliveriesOf(bed.pool, keys)).values())
      expect(given).toEqual(promotions.map((p) => p.id).sort((a, b) => a - b));
  });

  it('then inactive, expired and stale-node sessions get nothing', async () => {
    await createPromotion('Only');
    const active = await seedSessions(bed, uniquePrefix('active'), 3, { active: true });
    const idle = await seedSessions(bed, uniquePrefix('idle'), 4);
    const expired = await seedSessions(bed, uniquePrefix('expired'), 2, { active: true, expired: true });
    await bed.pool.query(`INSERT INTO presence_nodes (node_id, heartbeat_at) VALUES ('dead-node', now() - interval '1 minute')`);
    const stale = await seedSessions(bed, uniquePrefix('stale'), 2, { active: true, node: 'dead-node' });

    const result = await round();

    expect(result.sessions).toBe(3);
    const deliveries = await deliveriesOf(bed.pool, [...active, ...idle, ...expired, ...stale]);
    expect([...deliveries.keys()].sort()).toEqual([...active].sort());
    expect([...(await promotionFlashes(bed.pool, [...idle, ...expired, ...stale])).keys()]).toEqual([]);
  });

  it('then only active promotions inside their window are given', async () => {
    const now = Date.now();
    const iso = (ms: number) => new Date(now + ms).toISOString();
    const open = await createPromotion('Open window', { startsAt: iso(-3_600_000), endsAt: iso(3_600_000) });
    const always = await createPromotion('No window');
    await createPromotion('Not started', { startsAt: iso(3_600_000) });
    await createPromotion('Ended', { startsAt: iso(-7_200_000), endsAt: iso(-3_600_000) });
    await createPromotion('Paused', { active: false });
    const keys = await seedSessions(bed, uniquePrefix('window'), 30, { active: true });

    await round();
    await round();
    const third = await round();

    expect(third.sessions).toBe(0);
    for (const given of (await deliveriesOf(bed.pool, keys)).values()) expect(given).toEqual([open.id, always.id].sort((a, b) => a - b));
  });

  it('then one emit per promotion goes to the rooms of exactly the sessions that got it, after the flash is stored', async () => {
    const a = await createPromotion('Emit A', { url: '/sale' });
    const b = await createPromotion('Emit B', { url: 'https://shop.example/b' });
    const keys = await seedSessions(bed, uniquePrefix('emit'), 40, { active: true });

    const result = await round();

    expect(bed.emitter.emits).toHaveLength(Object.keys(result.promotions).length);
    const flashes = await promotionFlashes(bed.pool, keys);
    const reached = new Set<string>();
    for (const emit of bed.emitter.emits) {
      expect(emit.event).toBe('flash');
      const promotion = emit.payload.data!.promotionId === a.id ? a : b;
      expect(emit.payload).toMatchObject({
        key: 'promotion',
        message: promotion.callToAction,
        data: { promotionId: promotion.id, url: promotion.url },
      });
      expect(emit.rooms).toHaveLength(result.promotions[String(promotion.id)]!);
      for (const room of emit.rooms) {
        const key = room.slice('session:'.length);
        expect(room).toBe(sessionRoom(key));
        // Written before it was emitted, under the same id.
        expect(flashes.get(key)?.id).toBe(emit.payload.id);
        reached.add(key);
      }
    }
    expect([...reached].sort()).toEqual([...keys].sort());
  });
});

describe('when a session is being deleted while the round runs', () => {
  it('then the round skips it instead of waiting for it, and gives it a promotion once it stays', async () => {
    await createPromotion('Skip me');
    const [leaving, staying] = (await seedSessions(bed, uniquePrefix('leaving'), 2, { active: true })) as [string, string];
    const deleter = await bed.pool.connect();
    try {
      // A logout in progress: the session's row is locked for its delete, not yet committed.
      await deleter.query('BEGIN');
      await deleter.query('DELETE FROM session WHERE sid = $1', [leaving]);
      const result = await round();
      expect(result.sessions).toBe(1);
      expect([...(await deliveriesOf(bed.pool, [leaving, staying])).keys()]).toEqual([staying]);
      // The logout changes its mind (rolled back): the next round reaches the session.
      await deleter.query('ROLLBACK');
    } finally {
      deleter.release();
    }
    expect((await round()).sessions).toBe(1);
    expect([...(await deliveriesOf(bed.pool, [leaving])).keys()]).toEqual([leaving]);
  });
});

describe('when promotions have weights', () => {
  // 4,000 draws of p = 0.75: the standard deviation of the share is 0.007, so ±0.05 is
  // seven of them (a false failure about once in 10^11 runs).
  it('then the first round picks each with probability weight / total', async () => {
    const light = await createPromotion('Light', { weight: 1 });
    const heavy = await createPromotion('Heavy', { weight: 3 });
    await seedSessions(bed, uniquePrefix('weights'), 4000, { active: true });

    const result = await round();

    expect(result.sessions).toBe(4000);
    const share = result.promotions[String(heavy.id)]! / 4000;
    expect(share).toBeGreaterThan(0.7);
    expect(share).toBeLessThan(0.8);
    expect(result.promotions[String(light.id)]).toBe(4000 - result.promotions[String(heavy.id)]!);
  });

  it('then a session that was given the heaviest one draws among the rest by weight', async () => {
    // Most draws hit the promotion every session already has, so most sessions reach the
    // exact fallback: the shares among the rest must still follow their weights (1:3).
    const given = await createPromotion('Given already', { weight: 100 });
    const light = await createPromotion('Rest light', { weight: 1 });
    const heavy = await createPromotion('Rest heavy', { weight: 3 });
    const keys = await seedSessions(bed, uniquePrefix('rest'), 4000, { active: true });
    await bed.pool.query('INSERT INTO promotion_deliveries (session_sid, promotion_id) SELECT unnest($1::text[]), $2', [keys, given.id]);

    const result = await round();

    expect(result.sessions).toBe(4000);
    expect(result.promotions[String(given.id)]).toBeUndefined();
    const share = result.promotions[String(heavy.id)]! / 4000;
    expect(share).toBeGreaterThan(0.7);
    expect(share).toBeLessThan(0.8);
    expect(result.promotions[String(light.id)]).toBe(4000 - result.promotions[String(heavy.id)]!);
  });
});

describe('when two rounds run at the same time', () => {
  it('then no session gets two promotions: the second round skips while the first holds the round', async () => {
    await Promise.all(['X', 'Y', 'Z'].map((name) => createPromotion(name)));
    const keys = await seedSessions(bed, uniquePrefix('race'), 50, { active: true });
    // Hold the totals' rows so the first round stops inside its statement, lock in hand.
    const blocker = await bed.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT * FROM promotion_stats FOR UPDATE');
      const first = round();
      await waitForLockWaiter(bed);
      const second = await round();
      expect(second).toMatchObject({ sessions: 0, skipped: expect.any(String) });
      await blocker.query('COMMIT');
      expect((await first).sessions).toBe(50);
    } finally {
      blocker.release();
    }
    for (const given of (await deliveriesOf(bed.pool, keys)).values()) expect(given).toHaveLength(1);
  });

  it('then rounds started together by several workers deliver one promotion to each session in all', async () => {
    await Promise.all(['P', 'Q', 'R', 'S'].map((name) => createPromotion(name)));
    const keys = await seedSessions(bed, uniquePrefix('together'), 300, { active: true });

    const results = await Promise.all([round(), round(), round()]);

    const deliveries = await deliveriesOf(bed.pool, keys);
    const ran = results.filter((result) => !result.skipped).length;
    // However the three interleave, each session holds one delivery per round that ran,
    // all different, and no round that ran skipped a session.
    for (const given of deliveries.values()) {
      expect(given).toHaveLength(ran);
      expect(new Set(given).size).toBe(ran);
    }
  });
});

describe('when the round runs as an Agenda job', () => {
  it('then run-now answers with the result and the widget events are counted once per session', async () => {
    const promotion = await createPromotion('Through Agenda');
    const keys = await seedSessions(bed, uniquePrefix('agenda'), 5, { active: true });
    const jobs = await startJobs({
      role: 'worker',
      pool: bed.pool,
      logger: bed.deps.logger,
      deps: bed.deps,
      processName: uniquePrefix('worker'),
      processEvery: 200,
    });
    try {
      const run = await jobs.runNow(PROMOTION_ROUND);
      expect(run.result).toEqual({ sessions: 5, promotions: { [String(promotion.id)]: 5 } });

      const [first, second] = keys as [string, string];
      expect(await bed.promotions.recordEvent(first, { promotionId: promotion.id, action: 'displayed' })).toBe(true);
      expect(await bed.promotions.recordEvent(first, { promotionId: promotion.id, action: 'displayed' })).toBe(false);
      // A click counts only after a display to the same session.
      expect(await bed.promotions.recordEvent(second, { promotionId: promotion.id, action: 'clicked' })).toBe(false);
      expect(await bed.promotions.recordEvent(first, { promotionId: promotion.id, action: 'clicked' })).toBe(true);
      expect(await bed.promotions.recordEvent(second, { promotionId: promotion.id, action: 'dismissed' })).toBe(true);
      // Not delivered to this session, not a promotion, not an action: ignored.
      const other = await createPromotion('Never delivered');
      expect(await bed.promotions.recordEvent(first, { promotionId: other.id, action: 'clicked' })).toBe(false);
      expect(await bed.promotions.recordEvent(first, { promotionId: 999_999, action: 'clicked' })).toBe(false);
      expect(await bed.promotions.recordEvent(first, { promotionId: promotion.id, action: 'liked' } as never)).toBe(false);

      expect(await bed.promotions.stats(promotion.id)).toEqual({ delivered: 5, displayed: 1, clicked: 1, dismissed: 1 });
      // The totals outlive the sessions.
      await bed.pool.query('DELETE FROM session WHERE sid = ANY($1)', [keys]);
      expect(await deliveriesOf(bed.pool, keys)).toEqual(new Map());
      expect(await bed.promotions.stats(promotion.id)).toEqual({ delivered: 5, displayed: 1, clicked: 1, dismissed: 1 });
    } finally {
      await jobs.stop();
    }
  });
});

/** Waits until some backend of this database waits for a lock (the round, blocked by the test). */
async function waitForLockWaiter(testBed: JobsTestBed): Promise<void> {
  for (let i = 0; i < 400; i += 1) {
    const { rows } = await testBed.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (Number(rows[0]!.n) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the first round never waited for the held rows');
}
