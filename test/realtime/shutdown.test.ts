import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../server/db/migrate.ts';
import { createPool } from '../../server/db/pool.ts';
import { createSocketServer } from '../../server/realtime/socket-server.ts';
import { createSessions } from '../../server/sessions/sessions.ts';
import { SessionStore } from '../../server/sessions/session-store.ts';
import { TEST_SESSION_SECRET, testLogger } from '../support/app.ts';
import { createTestDatabase } from '../support/database.ts';

let database: { url: string; drop(): Promise<void> };

beforeAll(async () => {
  database = await createTestDatabase();
  await migrate({ databaseUrl: database.url, logger: testLogger });
});
afterAll(() => database.drop());

describe('when the socket server is closed right after it was created', () => {
  it('then its pool can end: no connection is left checked out', async () => {
    for (let round = 0; round < 5; round += 1) {
      const pool = createPool({ url: database.url, logger: testLogger, max: 4 });
      const store = new SessionStore({ pool, ttlSeconds: 60 });
      const server = createServer();
      const realtime = createSocketServer(server, {
        pool,
        logger: testLogger,
        store,
        sessions: createSessions({ pool }),
        sessionSecrets: [TEST_SESSION_SECRET],
      });
      // Closed before the adapter's LISTEN connection has arrived.
      await realtime.close();
      await pool.end();
      await new Promise((resolve) => setTimeout(resolve, 200));
      // A connection acquired after close would still be counted here, never released.
      expect(pool.totalCount).toBe(0);
    }
  });
});
