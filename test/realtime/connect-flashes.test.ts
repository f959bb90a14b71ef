import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flash } from '../../protocol/events.ts';
import {
  collectFlashes,
  connected,
  eventually,
  keyOf,
  openSocket,
  startRealtimeApp,
  type RealtimeApp,
  type TestSocket,
} from './support.ts';

/**
 * Pending flashes over the socket at connect: a Socket.IO client that never calls the HTTP API
 * (python-socketio, a native app) still gets what was written while it was away.
 */

let t: RealtimeApp;
const opened = new Set<TestSocket>();

beforeAll(async () => {
  t = await startRealtimeApp();
});
afterAll(async () => {
  for (const socket of opened) socket.disconnect();
  await t?.close();
});

/** A socket whose flashes are collected from before its connect, so none sent at connect is missed. */
function open(visitor: Parameters<RealtimeApp['connect']>[0], options: Parameters<typeof openSocket>[2] = {}) {
  const socket = openSocket(t.url, visitor, options);
  opened.add(socket);
  const flashes = collectFlashes(socket);
  let connects = 0;
  socket.on('connect', () => (connects += 1));
  return { socket, flashes, connects: () => connects };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

describe('when a socket connects while its session has pending flashes', () => {
  it('then it gets each of them over the socket, once per connection, and a reconnect gets what is still pending', async () => {
    const visitor = await t.newVisitor();
    const key = keyOf(visitor);
    const first = await t.push.flash({ session: key }, { key: 'notice', message: 'written while away' });
    const second = await t.push.flash({ session: key }, { key: 'alert', message: 'also while away' });

    const tab = open(visitor, { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 });
    await connected(tab.socket);
    await eventually(() => expect(tab.flashes.map((f) => f.id).sort()).toEqual([first.flash.id, second.flash.id].sort()));
    await settle();
    expect(tab.flashes).toHaveLength(2);

    // The first one is acknowledged; the connection drops and the client reconnects by itself.
    tab.socket.emit('flash:ack', { ids: [first.flash.id] });
    await eventually(async () => expect((await t.sessions.find(key))?.flashes.map((f) => f.id)).toEqual([second.flash.id]));
    tab.socket.io.engine.close();
    await eventually(() => expect(tab.connects()).toBe(2));
    await eventually(() => expect(tab.flashes.map((f: Flash) => f.id)).toEqual(expect.arrayContaining([second.flash.id])));
    await settle();
    // Two from the first connection, one (the unacknowledged) from the second.
    expect(tab.flashes.map((f) => f.id).filter((id) => id === second.flash.id)).toHaveLength(2);
    expect(tab.flashes.map((f) => f.id).filter((id) => id === first.flash.id)).toHaveLength(1);
  });

  it('then a session with nothing pending is sent nothing', async () => {
    const visitor = await t.newVisitor();
    const tab = open(visitor);
    await connected(tab.socket);
    await settle();
    expect(tab.flashes).toEqual([]);
  });

  it("then a storm of connecting sockets each get their own session's flash, and no other", async () => {
    const visitors = await Promise.all(Array.from({ length: 60 }, () => t.newVisitor()));
    const written = await Promise.all(
      visitors.map((visitor, i) => t.push.flash({ session: keyOf(visitor) }, { key: 'notice', message: `for visitor ${i}` })),
    );
    const tabs = visitors.map((visitor) => open(visitor));
    await Promise.all(tabs.map((tab) => connected(tab.socket)));
    await eventually(() => {
      for (const [i, tab] of tabs.entries()) expect(tab.flashes.map((f) => f.id)).toEqual([written[i]!.flash.id]);
    });
  });
});
