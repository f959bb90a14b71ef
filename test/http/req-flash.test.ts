import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flash } from '../../protocol/events.ts';
import { sessionKey } from '../../server/sessions/session-key.ts';
import { collectFlashes, connected, eventually, openSocket } from '../realtime/support.ts';
import { HOST_COOKIE, startHostApp, type HostApp } from '../support/host-app.ts';
import { idOf, Visitor } from '../support/http.ts';

/**
 * `req.flash` as connect-flash users write it, in an Express app of someone else's (its own
 * cookie name): the results connect-flash gives, kept in the flashes table and pushed live.
 */

let t: HostApp;
beforeAll(async () => {
  t = await startHostApp();
});
afterAll(() => t?.close());

const call = async (visitor: Visitor, query: string) => (await visitor.json<{ result: unknown }>(`/api/flash?${query}`)).body.result;
const keyOf = (visitor: Visitor) => sessionKey(idOf(visitor, HOST_COOKIE));

describe('req.flash', () => {
  it('when messages are added, then each call returns the count, and a later request reads them once, in order', async () => {
    const visitor = new Visitor(t.url);
    expect(await call(visitor, 'type=info&message=first')).toBe(1);
    expect(await call(visitor, 'type=info&message=second')).toBe(2);
    expect(await call(visitor, 'type=error&message=oops')).toBe(1);
    expect(await call(visitor, 'type=info')).toEqual(['first', 'second']);
    expect(await call(visitor, 'type=info')).toEqual([]);
    expect(await call(visitor, 'all=1')).toEqual({ error: ['oops'] });
    expect(await call(visitor, 'all=1')).toEqual({});
    expect((await t.pool.query('SELECT 1 FROM flashes WHERE session_sid = $1', [keyOf(visitor)])).rowCount).toBe(0);
  });

  it('when a type holds several messages, then they are one flash under that key with the list in data.messages', async () => {
    const visitor = new Visitor(t.url);
    await call(visitor, 'type=success&message=one');
    await call(visitor, 'type=success&message=two');
    const stored = (await t.sessions.find(keyOf(visitor)))!.flashes;
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ key: 'success', message: 'one\ntwo', data: { messages: ['one', 'two'] } });
  });

  it('when ops pushed a flash under a key, then req.flash reads it, and a req.flash under that key replaces it', async () => {
    const visitor = new Visitor(t.url);
    await call(visitor, 'type=info&message=start');
    await call(visitor, 'type=info'); // the session exists now, with nothing pending
    await t.sessions.writeFlash({ session: keyOf(visitor) }, { key: 'notice', message: 'from ops' });
    expect(await call(visitor, 'type=notice')).toEqual(['from ops']);
    await t.sessions.writeFlash({ session: keyOf(visitor) }, { key: 'notice', message: 'from ops again' });
    expect(await call(visitor, 'type=notice&message=mine')).toBe(1);
    expect(await call(visitor, 'type=notice')).toEqual(['mine']);
  });

  it('when a route flashes and redirects, then the page it leads to reads the message, and nothing is left pending', async () => {
    const visitor = new Visitor(t.url);
    await visitor.request('/page');
    const response = await visitor.request('/save', { method: 'POST', body: new URLSearchParams({ title: 'Groceries' }) });
    expect(response.status).toBe(302);
    const page = await (await visitor.request('/rendered')).text();
    expect(page).toContain('Saved &quot;Groceries&quot;.');
    expect((await t.sessions.find(keyOf(visitor)))!.flashes).toEqual([]);
  });

  it("when a message is added, then the session's open sockets get it at once, as a copy of the stored flash", async () => {
    const visitor = new Visitor(t.url);
    await visitor.request('/page');
    const socket = openSocket(t.url, visitor);
    const received = collectFlashes(socket);
    await connected(socket);
    try {
      await call(visitor, 'type=info&message=live');
      await eventually(() => expect(received).toHaveLength(1));
      const stored = (await t.sessions.find(keyOf(visitor)))!.flashes;
      const copy: Flash = received[0]!;
      expect(copy).toMatchObject({ key: 'info', message: 'live', data: { messages: ['live'], copyOf: stored[0]!.id } });
      expect(copy.id).not.toBe(stored[0]!.id);
      // Acknowledging the copy consumes nothing: only the stored flash's own id does.
      socket.emit('flash:ack', { ids: [copy.id] });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await t.sessions.find(keyOf(visitor)))!.flashes).toHaveLength(1);
    } finally {
      socket.disconnect();
    }
  });

  it('when a type is not a short identifier, then req.flash throws a clear error', async () => {
    const visitor = new Visitor(t.url);
    const response = await visitor.request('/api/flash?type=not%20a%20key&message=x');
    expect(response.status).toBe(500);
  });
});
