import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_SESSION_SECRET } from '../support/app.ts';
import { Visitor } from '../support/http.ts';
import { connected, idOf, keyOf, openSocket, refused, startRealtimeApp, type RealtimeApp, type TestSocket } from './support.ts';

const transports = [['polling'], ['websocket']] as const;

let t: RealtimeApp;
let listed: RealtimeApp;
/** Its socket server lists a newer secret before the one the app signs cookies with. */
let rotated: RealtimeApp;
const opened: TestSocket[] = [];

const NEWER_SECRET = 'test-newer-session-secret-0123456789';
/** Small, so that the storm below needs several statements even if all its handshakes wait at once. */
const MAX_BATCH = 100;

/** The session-check statements of `t`, each with the number of keys it asked for. */
const checks: number[] = [];
/** The next session check of `t` fails as a lost database connection would. */
let failNextCheck = false;
/** While set, `t`'s session checks wait for it: a database busy with a statement. */
let checksHeld: Promise<void> | undefined;

beforeAll(async () => {
  [t, listed, rotated] = await Promise.all([
    startRealtimeApp({ maxHandshakeBatch: MAX_BATCH }),
    startRealtimeApp({ allowedOrigins: ['https://shop.example', 'http://127.0.0.1:1'] }),
    startRealtimeApp({ sessionSecrets: [NEWER_SECRET, TEST_SESSION_SECRET] }),
  ]);
  const query = t.pool.query.bind(t.pool) as (...args: unknown[]) => unknown;
  (t.pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
    const text = typeof args[0] === 'string' ? args[0] : ((args[0] as { text?: string }).text ?? '');
    if (/FROM session WHERE sid = ANY\(\$1::text\[\]\) AND expire > now\(\)/.test(text)) {
      checks.push((args[1] as [string[]])[0].length);
      if (failNextCheck) {
        failNextCheck = false;
        return Promise.reject(new Error('Connection terminated unexpectedly'));
      }
      if (checksHeld) return checksHeld.then(() => query(...args));
    }
    return query(...args);
  };
});
afterAll(async () => {
  for (const socket of opened) socket.disconnect();
  await Promise.all([t?.close(), listed?.close(), rotated?.close()]);
});

/** express-session's cookie for a session id, signed with `secret`. */
function signedCookie(id: string, secret: string): string {
  const signature = createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '');
  return encodeURIComponent(`s:${id}.${signature}`);
}

/**
 * Holds `t`'s session checks until `upgrades` websocket handshakes reached the server (and
 * its Engine.IO middlewares ran): the first check is then still running when all the others
 * arrive, as in a storm, however fast this machine's database answers.
 */
function holdChecksUntil(upgrades: number): void {
  let seen = 0;
  let release!: () => void;
  checksHeld = new Promise((resolve) => (release = resolve));
  const onUpgrade = (): void => {
    if (++seen < upgrades) return;
    t.server.off('upgrade', onUpgrade);
    // Engine.IO's middlewares run a few promise jobs after its upgrade listener.
    setTimeout(() => {
      checksHeld = undefined;
      release();
    }, 20);
  };
  t.server.on('upgrade', onUpgrade);
}

/** A visitor that presents `cookie` as its session cookie. */
function withCookie(app: RealtimeApp, cookie: string): Visitor {
  const visitor = new Visitor(app.url);
  visitor.cookies.set('flashcast.sid', cookie);
  return visitor;
}

function open(app: RealtimeApp, visitor: Visitor | undefined, options: Parameters<typeof openSocket>[2]): TestSocket {
  const socket = openSocket(app.url, visitor, options);
  opened.push(socket);
  return socket;
}

describe('when ALLOWED_ORIGINS is unset', () => {
  for (const transport of transports) {
    it(`then a handshake from a foreign origin is refused on ${transport[0]}, and one from the page's origin is not`, async () => {
      const visitor = await t.newVisitor();
      await expect(refused(open(t, visitor, { transports: [...transport], origin: 'https://evil.example' }))).resolves.toBeInstanceOf(
        Error,
      );
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
      await expect(refused(open(listed, visitor, { transports: [...transport], origin: 'https://evil.example' }))).resolves.toBeInstanceOf(
        Error,
      );
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

describe('when many visitors of distinct sessions connect at once', () => {
  it('then every socket connects to its own session, checked in a few batched statements', async () => {
    const count = 300;
    const visitors: Visitor[] = [];
    for (let i = 0; i < count; i += 50) {
      visitors.push(...(await Promise.all(Array.from({ length: Math.min(50, count - i) }, () => t.newVisitor()))));
    }
    checks.length = 0;

    holdChecksUntil(count);
    const sockets = visitors.map((visitor) => open(t, visitor, { transports: ['websocket'] }));
    await Promise.all(sockets.map(connected));

    const keys = new Set((await t.realtime.io.fetchSockets()).map((socket) => socket.data.sessionKey));
    for (const visitor of visitors) expect(keys).toContain(keyOf(visitor));
    // The first handshake's statement, then the ones that waited behind it in batches of at
    // most MAX_BATCH: [1, 100, 100, 99], never a statement per handshake.
    expect(checks.reduce((sum, size) => sum + size, 0)).toBe(count);
    expect(Math.max(...checks)).toBeLessThanOrEqual(MAX_BATCH);
    expect(checks.length).toBeLessThanOrEqual(1 + Math.ceil((count - 1) / MAX_BATCH));
  });

  it('then the tabs of one visitor that wait for the same check share its key', async () => {
    const visitor = await t.newVisitor();
    checks.length = 0;
    holdChecksUntil(5);
    const tabs = Array.from({ length: 5 }, () => open(t, visitor, { transports: ['websocket'] }));
    await Promise.all(tabs.map(connected));
    // The first tab's statement, then one key for the four that waited.
    expect(checks).toEqual([1, 1]);
  });
});

describe('when a handshake from a foreign origin carries a valid session cookie', () => {
  it('then it is refused before any session check', async () => {
    const visitor = await t.newVisitor();
    checks.length = 0;
    for (const transport of transports) {
      await expect(refused(open(t, visitor, { transports: [...transport], origin: 'https://evil.example' }))).resolves.toBeInstanceOf(
        Error,
      );
    }
    expect(checks).toEqual([]);
  });
});

describe('when the session check fails (the database is unreachable)', () => {
  for (const transport of transports) {
    it(`then that handshake is refused with a generic error on ${transport[0]}, and the next one connects`, async () => {
      const visitor = await t.newVisitor();
      failNextCheck = true;
      const failed = await refused(open(t, visitor, { transports: [...transport] }));
      expect(failed.data?.code).toBeUndefined();
      expect(failNextCheck).toBe(false);

      const socket = await t.connect(visitor, { transports: [...transport] });
      expect(socket.connected).toBe(true);
    });
  }
});

describe('when the session secrets are rotated', () => {
  it('then a cookie signed with an older secret of the list is accepted, and so is one signed with the newest', async () => {
    // The app signs with TEST_SESSION_SECRET, listed second by the socket server.
    const visitor = await rotated.newVisitor();
    const old = await rotated.connect(visitor);
    expect(old.connected).toBe(true);

    const resigned = await rotated.connect(withCookie(rotated, signedCookie(idOf(visitor), NEWER_SECRET)));
    expect(resigned.connected).toBe(true);
  });

  it('then a tampered signature, a secret not in the list or an unsigned id is refused with NO_SESSION', async () => {
    const visitor = await rotated.newVisitor();
    const id = idOf(visitor);
    const genuine = decodeURIComponent(signedCookie(id, TEST_SESSION_SECRET));
    const flipped = genuine.endsWith('A') ? `${genuine.slice(0, -1)}B` : `${genuine.slice(0, -1)}A`;
    const cookies = [
      encodeURIComponent(flipped),
      // The id changed under its signature.
      encodeURIComponent(`s:${id}x${genuine.slice(genuine.lastIndexOf('.'))}`),
      // The signature cut short.
      encodeURIComponent(genuine.slice(0, -1)),
      signedCookie(id, 'a-secret-that-is-not-listed-0123'),
      // A live session's id without its signature: express-session ignores such cookies.
      encodeURIComponent(id),
      encodeURIComponent(`s:${id}`),
    ];
    for (const cookie of cookies) {
      const refusal = await refused(open(rotated, withCookie(rotated, cookie), { transports: ['websocket'] }));
      expect(refusal.data?.code, cookie).toBe('NO_SESSION');
    }
    // The genuine one still works.
    expect((await rotated.connect(visitor)).connected).toBe(true);
  });
});
