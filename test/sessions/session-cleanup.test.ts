import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupExpiredSessions } from '../../server/sessions/session-cleanup.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

/** Inserts n sessions expiring at `expire` (SQL), each with a cart of two items and a flash. */
async function seed(prefix: string, n: number, expire: string) {
  await t.pool.query(
    `WITH s AS (
       INSERT INTO session (sid, sess, expire)
       SELECT $1 || g, '{"cookie":{}}'::jsonb, ${expire} FROM generate_series(1, $2) g
       RETURNING sid
     ), c AS (INSERT INTO carts (session_sid) SELECT sid FROM s RETURNING session_sid),
     f AS (INSERT INTO flashes (session_sid, key, id, message) SELECT sid, 'notice', gen_random_uuid(), 'hi' FROM s)
     INSERT INTO cart_items (session_sid, sku, qty) SELECT session_sid, sku, 1 FROM c, unnest(ARRAY['widget-pro', 'doohickey']) sku`,
    [prefix, n],
  );
}

async function count(table: string, prefix: string): Promise<number> {
  const column = table === 'session' ? 'sid' : 'session_sid';
  const { rows } = await t.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE ${column} LIKE $1 || '%'`, [prefix]);
  return Number(rows[0]!.n);
}

describe('when expired sessions own carts', () => {
  it('then two concurrent cleanups delete every expired session with its cart, items and flashes, and no live one', async () => {
    await seed('expired-', 137, `now() - interval '1 minute'`);
    await seed('live-', 23, `now() + interval '1 hour'`);

    const [a, b] = await Promise.all([
      cleanupExpiredSessions(t.pool, { batchSize: 10 }),
      cleanupExpiredSessions(t.pool, { batchSize: 10 }),
    ]);

    expect(a.sessions + b.sessions).toBe(137);
    expect(a.carts + b.carts).toBe(137);
    for (const table of ['session', 'carts', 'cart_items', 'flashes']) expect(await count(table, 'expired-')).toBe(0);
    expect(await count('session', 'live-')).toBe(23);
    expect(await count('carts', 'live-')).toBe(23);
    expect(await count('cart_items', 'live-')).toBe(46);
    // Nothing anywhere points at a session that is gone.
    const { rows } = await t.pool.query<{ n: string }>(
      `SELECT (SELECT count(*) FROM cart_items i WHERE NOT EXISTS (SELECT 1 FROM session s WHERE s.sid = i.session_sid))
            + (SELECT count(*) FROM carts c WHERE NOT EXISTS (SELECT 1 FROM session s WHERE s.sid = c.session_sid)) AS n`,
    );
    expect(Number(rows[0]!.n)).toBe(0);
  });

  it('then a session extended while the cleanup waits on it is kept', async () => {
    await seed('extended-', 1, `now() - interval '1 second'`);
    const client = await t.pool.connect();
    try {
      // A request extends the session and has not committed yet when the cleanup starts.
      await client.query('BEGIN');
      await client.query(`UPDATE session SET expire = now() + interval '1 hour' WHERE sid = 'extended-1'`);
      const cleanup = cleanupExpiredSessions(t.pool);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await client.query('COMMIT');
      await cleanup;
    } finally {
      client.release();
    }
    expect(await count('session', 'extended-')).toBe(1);
  });
});
