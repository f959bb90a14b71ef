import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Visitor } from '../support/http.ts';
import { keyOf, openSocket, refused, startRealtimeApp, type RealtimeApp, type TestSocket } from './support.ts';

const transports = [['polling'], ['websocket']] as const;

let t: RealtimeApp;
let listed: RealtimeApp;
const opened: TestSocket[] = [];

beforeAll(async () => {
  [t, listed] = await Promise.all([
    startRealtimeApp(),
    startRealtimeApp({ allowedOrigins: ['https://shop.example', 'http://127.0.0.1:1'] }),
  ]);
});
afterAll(async () => {
  for (const socket of opened) socket.disconnect();
  await Promise.all([t?.close(), listed?.close()]);
});

function open(app: RealtimeApp, visitor: Visitor | undefined, options: Parameters<typeof openSocket>[2]): TestSocket {
  const socket = openSocket(app.url, visitor, options);
  opened.push(socket);
  return socket;
}

describe('when ALLOWED_ORIGINS is unset', () => {
  for (const transport of transports) {
    it(`then a handshake from a foreign origin is refused on ${transport[0]}, and one from the page's origin is not`, async () => {
      const visitor = await t.newVisitor();
      await expect(refused(open(t, visitor, { transports: [...transport], origin: 'https://evil.example' }))).resolves.toBeInstanceOf(Error);
      // Same hostname, other port: another site all the same.
      await expect(refused(open(t, visitor, { transports: [...transport], origin: 'http://127.0.0.1:1' }))).resolves.toBeInstanceOf(Error);
      await expect(refused(open(t, visitor, { transports: [...transport], origin: 'null' }))).resolves.toBeInstanceOf(Error);

      const own = await t.connect(visitor, { transports: [...transport] });
      expect(own.connected).toBe(true);
      // A same-origin GET carries no Origin header in browsers: a polling handshake, say.
      const bare = await t.connect(visitor, { transports: [...transport], origin: null });
      expect(bare.connected).toBe(true);
    });
  }
});

describe('when ALLOWED_ORIGINS lists origins', () => {
  for (const transport of transports) {
    it(`then only those are allowed on ${transport[0]}, not even the request's own host`, async () => {
      const visitor = await listed.newVisitor();
      const ok = await listed.connect(visitor, { transports: [...transport], origin: 'https://shop.example' });
      expect(ok.connected).toBe(true);
      await expect(refused(open(listed, visitor, { transports: [...transport], origin: listed.url }))).resolves.toBeInstanceOf(Error);
      await expect(refused(open(listed, visitor, { transports: [...transport], origin: 'https://evil.example' }))).resolves.toBeInstanceOf(Error);
    });
  }
});

describe('when a handshake carries no stored session', () => {
  for (const transport of transports) {
    it(`then it is refused with the code NO_SESSION on ${transport[0]}`, async () => {
      // No cookie at all.
      const none = await refused(open(t, undefined, { transports: [...transport] }));
      expect(none.data?.code).toBe('NO_SESSION');

      // A well-formed cookie for a session that does not exist (a fresh, unsaved one does not count).
      const stranger = new Visitor(t.url);
      stranger.cookies.set('flashcast.sid', 's%3Anot-a-session.forged');
      const forged = await refused(open(t, stranger, { transports: [...transport] }));
      expect(forged.data?.code).toBe('NO_SESSION');

      // The cookie of a session that has been deleted.
      const visitor = await t.newVisitor();
      await t.sessions.destroy(keyOf(visitor));
      const gone = await refused(open(t, visitor, { transports: [...transport] }));
      expect(gone.data?.code).toBe('NO_SESSION');
    });
  }
});
