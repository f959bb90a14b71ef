import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FlashesResponse, PromotionEvent } from '../../protocol/events.ts';
import { createPool } from '../../server/db/pool.ts';
import { createWorkerEmitter } from '../../server/realtime/cluster.ts';
import { createPush } from '../../server/realtime/push.ts';
import { MAX_MESSAGE_BYTES } from '../../server/realtime/socket-server.ts';
import { testLogger } from '../support/app.ts';
import type { Visitor } from '../support/http.ts';
import { collectFlashes, connected, eventually, keyOf, openSocket, startRealtimeApp, type RealtimeApp } from './support.ts';

let t: RealtimeApp;
const promotionEvents: Array<{ key: string; event: PromotionEvent }> = [];
const connects: string[] = [];

beforeAll(async () => {
  t = await startRealtimeApp({
    hooks: {
      onPromotionEvent: (key, event) => {
        promotionEvents.push({ key, event });
      },
      onConnect: (socket, key) => {
        connects.push(key);
        socket.emit('maintenance', { state: 'idle', serverTime: Date.now() });
      },
    },
  });
});
afterAll(() => t?.close());

async function pending(visitor: Visitor): Promise<string[]> {
  const { body } = await visitor.json<FlashesResponse>('/api/flashes');
  return body.flashes.map((flash) => flash.message);
}

describe('when a flash is pushed to one session', () => {
  it('then every tab of that session gets it, once, and no other session does', async () => {
    const alice = await t.newVisitor();
    const bob = await t.newVisitor();
    const aliceTabs = [await t.connect(alice), await t.connect(alice, { transports: ['polling'] })];
    const bobTab = await t.connect(bob);
    const aliceGot = aliceTabs.map(collectFlashes);
    const bobGot = collectFlashes(bobTab);

    await t.push.flash({ session: keyOf(alice) }, { key: 'notice', message: 'for alice' });
    // Pushed after Alice's: Bob's socket receives in order, so once it has its own flash it
    // would also have had Alice's, had it been sent to him.
    await t.push.flash({ session: keyOf(bob) }, { key: 'notice', message: 'for bob' });

    await eventually(() => {
      for (const got of aliceGot) expect(got.map((f) => f.message)).toEqual(['for alice']);
      expect(bobGot.map((f) => f.message)).toEqual(['for bob']);
    });
  });

  it('then a push to all active sessions is one emit that every connected session receives', async () => {
    const visitors = [await t.newVisitor(), await t.newVisitor(), await t.newVisitor()];
    const received = await Promise.all(visitors.map(async (v) => collectFlashes(await t.connect(v))));
    const message = `to everyone ${randomUUID()}`;
    await eventually(async () => expect((await t.sessions.stats()).active).toBeGreaterThanOrEqual(3));

    const written = await t.push.flash('active', { key: 'alert', message });
    expect(written.sessions).toBeGreaterThanOrEqual(3);
    await eventually(() => {
      for (const got of received) expect(got.map((f) => f.message)).toContain(message);
    });
  });
});

describe('when a flash is pushed while a tab is disconnected', () => {
  it('then the tab finds it pending after it reconnects', async () => {
    const visitor = await t.newVisitor();
    const tab = await t.connect(visitor);
    const got = collectFlashes(tab);
    tab.disconnect();

    await t.push.flash({ session: keyOf(visitor) }, { key: 'notice', message: 'while you were away' });

    tab.connect();
    await eventually(() => expect(tab.connected).toBe(true));
    // The server sends what is pending at connect; the widget's fetch after a reconnect finds it too.
    await eventually(() => expect(got.map((flash) => flash.message)).toEqual(['while you were away']));
    expect(await pending(visitor)).toEqual(['while you were away']);
  });
});

describe('when a tab acknowledges a flash over its socket', () => {
  it('then the flash is removed from the session', async () => {
    const visitor = await t.newVisitor();
    const tab = await t.connect(visitor);
    const got = collectFlashes(tab);
    await t.push.flash({ session: keyOf(visitor) }, { key: 'notice', message: 'read me' });
    // Written while the socket's connect-time read of pending flashes may still run: it can
    // arrive both live and as pending (at least once; clients show an id once).
    await eventually(() => expect(got.length).toBeGreaterThanOrEqual(1));

    tab.emit('flash:ack', { ids: [got[0]!.id] });
    await eventually(async () => expect(await pending(visitor)).toEqual([]));
  });
});

describe('when a client sends malformed acknowledgements', () => {
  it('then they are dropped, its socket stays connected, and valid acks still work', async () => {
    const visitor = await t.newVisitor();
    const tab = await t.connect(visitor);
    const got = collectFlashes(tab);
    await t.push.flash({ session: keyOf(visitor) }, { key: 'notice', message: 'keep me' });
    // At least once: it may come live and as pending at connect (see above).
    await eventually(() => expect(got.length).toBeGreaterThanOrEqual(1));

    const junk: unknown[] = [
      null,
      'ids',
      42,
      [],
      {},
      { ids: 'not-an-array' },
      { ids: [1, 2, 3] },
      { ids: ['not-a-uuid'] },
      { ids: [got[0]!.id, 'not-a-uuid'] },
      { ids: Array.from({ length: 101 }, () => got[0]!.id) },
      { ids: [{ $gt: '' }] },
      { ids: null },
      JSON.parse('{"__proto__":{"ids":["x"]}}'),
      { ids: [[[[[[[[[['deep']]]]]]]]]] },
    ];
    const raw = tab as unknown as { emit(event: string, ...args: unknown[]): void };
    for (const payload of junk) raw.emit('flash:ack', payload);
    raw.emit('flash:ack');
    raw.emit('flash:ack', { ids: [] }, () => 'an ack callback');
    raw.emit('no-such-event', { ids: [got[0]!.id] });

    // Sent after the junk on the same socket: once it has taken effect, the junk was handled.
    tab.emit('flash:ack', { ids: [randomUUID()] });
    await t.push.flash({ session: keyOf(visitor) }, { key: 'other', message: 'still connected' });
    await eventually(() => expect(got.map((f) => f.message)).toContain('still connected'));
    expect(tab.connected).toBe(true);
    expect(await pending(visitor)).toEqual(['keep me', 'still connected']);

    tab.emit('flash:ack', { ids: got.map((f) => f.id) });
    await eventually(async () => expect(await pending(visitor)).toEqual([]));
  });
});

describe('when a client sends a message larger than the limit', () => {
  it('then only that client is cut off, the server keeps answering, and other clients still get pushes', async () => {
    const bystander = await t.newVisitor();
    const bystanderTab = await t.connect(bystander);
    const bystanderGot = collectFlashes(bystanderTab);

    for (const transports of [['websocket'], ['polling']]) {
      const sender = await t.newVisitor();
      const senderTab = await t.connect(sender, { transports });
      const closed = new Promise<string>((resolve) => senderTab.once('disconnect', (reason) => resolve(reason)));
      const raw = senderTab as unknown as { emit(event: string, ...args: unknown[]): void };
      raw.emit('flash:ack', { ids: ['x'.repeat(MAX_MESSAGE_BYTES * 4)] });
      expect(await closed).toMatch(/transport (close|error)/);

      // The same visitor can connect again; the server is unharmed.
      const again = await t.connect(sender, { transports });
      expect(again.connected).toBe(true);
      again.disconnect();
    }

    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
    await t.push.flash({ session: keyOf(bystander) }, { key: 'notice', message: 'after the flood' });
    await eventually(() => expect(bystanderGot.map((f) => f.message)).toContain('after the flood'));
    expect(bystanderTab.connected).toBe(true);
  });
});

describe('when a worker process pushes through the PostgreSQL emitter', () => {
  it('then the sockets of the web process receive it', async () => {
    const workerPool = createPool({ url: t.databaseUrl, logger: testLogger, max: 2 });
    try {
      const workerPush = createPush({ sessions: t.sessions, emitter: createWorkerEmitter(workerPool, { logger: testLogger }) });
      const visitor = await t.newVisitor();
      const got = collectFlashes(await t.connect(visitor));
      const other = await t.newVisitor();
      const otherGot = collectFlashes(await t.connect(other));

      await workerPush.flash({ session: keyOf(visitor) }, { key: 'notice', message: 'from the worker' });
      await workerPush.flash({ sessions: [keyOf(other)] }, { key: 'notice', message: 'for the other' });
      await eventually(() => {
        expect(got.map((f) => f.message)).toEqual(['from the worker']);
        expect(otherGot.map((f) => f.message)).toEqual(['for the other']);
      });

      // Larger than a NOTIFY payload may be: it travels through socket_io_attachments.
      const big = 'x'.repeat(900);
      const data = { filler: 'y'.repeat(9000) };
      await workerPush.flash({ session: keyOf(visitor) }, { key: 'big', message: big, data });
      await eventually(() => expect(got.map((f) => f.message)).toContain(big));
    } finally {
      await workerPool.end();
    }
  });
});

describe('when a widget reports a promotion event', () => {
  it('then a valid one reaches the recorder with the session key, and an invalid one does not', async () => {
    const visitor = await t.newVisitor();
    const tab = await t.connect(visitor);
    const raw = tab as unknown as { emit(event: string, ...args: unknown[]): void };
    raw.emit('promotion:event', { promotionId: 'one', action: 'clicked' });
    raw.emit('promotion:event', { promotionId: 1, action: 'hacked' });
    raw.emit('promotion:event', null);
    tab.emit('promotion:event', { promotionId: 7, action: 'clicked' });
    await eventually(() => expect(promotionEvents.filter((e) => e.key === keyOf(visitor))).toHaveLength(1));
    expect(promotionEvents.find((e) => e.key === keyOf(visitor))?.event).toEqual({ promotionId: 7, action: 'clicked' });
  });
});

describe('when a socket connects', () => {
  it('then the onConnect hook gets it with its session key, and can send it state at once', async () => {
    const visitor = await t.newVisitor();
    const socket = openSocket(t.url, visitor);
    const states: string[] = [];
    socket.on('maintenance', (event) => states.push(event.state));
    try {
      await connected(socket);
      await eventually(() => expect(states).toEqual(['idle']));
      expect(connects).toContain(keyOf(visitor));
    } finally {
      socket.disconnect();
    }
  });
});

describe('when the database is busy', () => {
  it("then a push still reaches this process's sockets at once: the adapter does not put PostgreSQL in front of local sockets", async () => {
    const visitor = await t.newVisitor();
    const got = collectFlashes(await t.connect(visitor));
    const max = (t.pool as unknown as { options: { max: number } }).options.max;
    // Every connection of the pool taken (one is the adapter's LISTEN), so a publish waits.
    const held = await Promise.all(Array.from({ length: max - 1 }, () => t.pool.connect()));
    try {
      expect(t.pool.totalCount).toBe(max);
      expect(t.pool.idleCount).toBe(0);
      const flash = { id: randomUUID(), key: 'notice', message: 'no waiting', createdAt: new Date().toISOString() };
      t.realtime.io.to(`session:${keyOf(visitor)}`).emit('flash', flash);
      await eventually(() => expect(got.map((f) => f.message)).toEqual(['no waiting']));
    } finally {
      for (const client of held) client.release();
    }
  });
});

describe('when the worker emitter cannot reach the database', () => {
  it('then the failure is contained: one attempt, no retry loop, nothing thrown', async () => {
    let queries = 0;
    const downPool = {
      query: () => {
        queries += 1;
        // Failing a turn later, as a real connection does: a retry loop then shows as a count
        // rather than starving the event loop.
        return new Promise((_resolve, reject) => setImmediate(() => reject(new Error('connection refused'))));
      },
    };
    const emitter = createWorkerEmitter(downPool as never);
    expect(() => emitter.to('visitors').emit('flash', { id: randomUUID(), key: 'k', message: 'm', createdAt: '' })).not.toThrow();
    // Let any retry loop (the stock emitter re-publishes an "error" event on failure) run.
    for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
    expect(queries).toBe(1);
  });
});
