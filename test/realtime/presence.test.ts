import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../server/db/pool.ts';
import { createPresence } from '../../server/realtime/presence.ts';
import { testLogger } from '../support/app.ts';
import type { Visitor } from '../support/http.ts';
import { connected, eventually, keyOf, openSocket, startRealtimeApp, type RealtimeApp, type TestSocket } from './support.ts';

let t: RealtimeApp;
/** Statements that wrote presence rows, to see that storms are written in batches. */
let presenceWrites = 0;

beforeAll(async () => {
  // Sweeps often, so a test sees a dead node's rows go without waiting the default 5 s.
  t = await startRealtimeApp({ presence: { sweepEveryMs: 200 } });
  const query = t.pool.query.bind(t.pool) as (...args: unknown[]) => unknown;
  (t.pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string }).text ?? '');
    if (/INSERT INTO presence \(/.test(text)) presenceWrites += 1;
    return query(...args);
  };
});
afterAll(() => t?.close());

const nobody = { activeSessions: 0, sockets: 0 };

async function visitors(count: number): Promise<Visitor[]> {
  const all: Visitor[] = [];
  for (let i = 0; i < count; i += 50) {
    all.push(...(await Promise.all(Array.from({ length: Math.min(50, count - i) }, () => t.newVisitor()))));
  }
  return all;
}

async function nodeRows(nodeId: string): Promise<Array<{ session_sid: string; sockets: number }>> {
  const { rows } = await t.pool.query<{ session_sid: string; sockets: number }>(
    'SELECT session_sid, sockets FROM presence WHERE node_id = $1 ORDER BY session_sid',
    [nodeId],
  );
  return rows;
}

describe('when visitors have sockets connected', () => {
  it('then presence counts each session once and every socket, and follows disconnects', async () => {
    const [one, two, three] = await visitors(3);
    const tabs: TestSocket[][] = [
      [await t.connect(one!)],
      [await t.connect(two!), await t.connect(two!, { transports: ['polling'] })],
      [await t.connect(three!), await t.connect(three!), await t.connect(three!)],
    ];
    await eventually(async () => expect(await t.presence()).toEqual({ activeSessions: 3, sockets: 6 }));
    expect((await t.sessions.stats()).active).toBe(3);
    expect((await t.push.flash('active', { key: 'notice', message: 'hello, active ones' })).sessions).toBe(3);

    tabs[2]![0]!.disconnect();
    await eventually(async () => expect(await t.presence()).toEqual({ activeSessions: 3, sockets: 5 }));
    tabs[0]![0]!.disconnect();
    await eventually(async () => expect(await t.presence()).toEqual({ activeSessions: 2, sockets: 4 }));

    for (const socket of tabs.flat()) socket.disconnect();
    await eventually(async () => expect(await t.presence()).toEqual(nobody));
    expect((await t.sessions.stats()).active).toBe(0);
  });
});

describe('when a node stops heartbeating', () => {
  it('then its sessions stop counting within the window, and its rows are swept', async () => {
    const [a, b] = await visitors(2);
    const nodePool = createPool({ url: t.databaseUrl, logger: testLogger, max: 2 });
    const node = createPresence({ pool: nodePool, logger: testLogger });
    try {
      node.connected(keyOf(a!));
      node.connected(keyOf(a!));
      node.connected(keyOf(b!));
      await eventually(async () => expect(await t.presence()).toEqual({ activeSessions: 2, sockets: 3 }));

      // The node's process dies: no more beats, no goodbye.
      await nodePool.end();
      await eventually(async () => expect(await t.presence()).toEqual(nobody));
      expect((await t.sessions.stats()).active).toBe(0);
      expect(await nodeRows(node.nodeId)).toHaveLength(2);

      // Once stale beyond the sweep age, a live node deletes it and its rows.
      await t.pool.query("UPDATE presence_nodes SET heartbeat_at = now() - interval '1 hour' WHERE node_id = $1", [node.nodeId]);
      await eventually(async () => expect(await nodeRows(node.nodeId)).toEqual([]));
    } finally {
      await node.close();
    }
  });

  it('then a node that was swept while only stalled writes all its rows again on its next beat', async () => {
    const [a, b] = await visitors(2);
    const node = createPresence({ pool: t.pool, logger: testLogger });
    try {
      node.connected(keyOf(a!));
      node.connected(keyOf(b!));
      node.connected(keyOf(b!));
      await eventually(async () => expect(await nodeRows(node.nodeId)).toHaveLength(2));

      await t.pool.query('DELETE FROM presence_nodes WHERE node_id = $1', [node.nodeId]);
      await eventually(async () =>
        expect(await nodeRows(node.nodeId)).toEqual(
          [
            { session_sid: keyOf(a!), sockets: 1 },
            { session_sid: keyOf(b!), sockets: 2 },
          ].sort((x, y) => (x.session_sid < y.session_sid ? -1 : 1)),
        ),
      );
    } finally {
      await node.close();
    }
    expect(await nodeRows(node.nodeId)).toEqual([]);
  });
});

describe('when a batch holds a session that no longer exists', () => {
  it('then the rest of the batch is written', async () => {
    const [a, b] = await visitors(2);
    await t.sessions.destroy(keyOf(b!));
    // Flushed only on demand, so both changes are in the one batch.
    const node = createPresence({ pool: t.pool, logger: testLogger }, { flushDelayMs: 3_600_000, heartbeatMs: 3_600_000 });
    try {
      node.connected(keyOf(a!));
      node.connected(keyOf(b!));
      node.connected('no-such-session');
      await node.flush();
      expect(await nodeRows(node.nodeId)).toEqual([{ session_sid: keyOf(a!), sockets: 1 }]);

      node.disconnected(keyOf(a!));
      await node.flush();
      expect(await nodeRows(node.nodeId)).toEqual([]);
    } finally {
      await node.close();
    }
  });
});

describe('when 2,000 sockets connect at once', () => {
  it('then presence ends exact, in a few batched statements, and back to zero when they all leave', { timeout: 180_000 }, async () => {
    const sessions = await visitors(1000);
    const writesBefore = presenceWrites;
    const sockets = sessions.flatMap((visitor) => [openSocket(t.url, visitor), openSocket(t.url, visitor)]);
    try {
      await Promise.all(sockets.map(connected));
      await eventually(async () => expect(await t.presence()).toEqual({ activeSessions: 1000, sockets: 2000 }));
      // Batched: a statement per flush, never one per socket.
      expect(presenceWrites - writesBefore).toBeLessThan(sockets.length / 10);
      expect((await t.sessions.stats()).active).toBe(1000);
    } finally {
      for (const socket of sockets) socket.disconnect();
    }
    await eventually(async () => expect(await t.presence()).toEqual(nobody));
  });
});
