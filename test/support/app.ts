import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppConfig, type AppDeps } from '../../server/app.ts';
import { migrate } from '../../server/db/migrate.ts';
import { createPool, type Pool } from '../../server/db/pool.ts';
import { createLogger } from '../../server/logger.ts';
import { createPush, silentEmitter, type Push, type RoomEmitter } from '../../server/realtime/push.ts';
import { createSessions, type Sessions } from '../../server/sessions/sessions.ts';
import { SessionStore } from '../../server/sessions/session-store.ts';
import { clientDistDir } from '../../server/system.ts';
import { loadAssets } from '../../server/web/assets.ts';
import { createTestDatabase } from './database.ts';

export const TEST_OPS_TOKEN = 'test-ops-token-0123456789';
export const TEST_SESSION_SECRET = 'test-session-secret-0123456789';

export interface TestApp {
  url: string;
  pool: Pool;
  databaseUrl: string;
  store: SessionStore;
  sessions: Sessions;
  push: Push;
  server: Server;
  close(): Promise<void>;
}

export const testLogger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

/**
 * The web app on its own fresh database, listening on port 0: real HTTP, real PostgreSQL.
 * Each test file gets its own database, so tests never see each other's sessions.
 */
export async function startTestApp(
  options: {
    ttlSeconds?: number;
    /** The store's trial lifetime of a new session (default the store's own). */
    trialSeconds?: number;
    emitter?: RoomEmitter;
    extend?: (deps: AppDeps) => Partial<AppDeps>;
    config?: Partial<AppConfig>;
  } = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  await migrate({ databaseUrl: database.url, logger: testLogger });
  const pool = createPool({ url: database.url, logger: testLogger });
  const store = new SessionStore({
    pool,
    ttlSeconds: options.ttlSeconds ?? 3600,
    ...(options.trialSeconds === undefined ? {} : { trialSeconds: options.trialSeconds }),
  });
  const sessions = createSessions({ pool });
  const push = createPush({ sessions, emitter: options.emitter ?? silentEmitter });
  const assets = loadAssets(clientDistDir);
  const base: AppDeps = {
    pool,
    logger: testLogger,
    store,
    sessions,
    push,
    assets: (entry) => assets.entry(entry),
    clientDir: clientDistDir,
  };
  const deps = { ...base, ...options.extend?.(base) };
  const { app } = createApp(deps, {
    sessionSecrets: [TEST_SESSION_SECRET],
    sessionTtlSeconds: options.ttlSeconds ?? 3600,
    opsToken: TEST_OPS_TOKEN,
    production: false,
    // Test files start hundreds of visitors from 127.0.0.1; the limit's own tests set it.
    sessionRateLimit: 0,
    ...options.config,
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    pool,
    databaseUrl: database.url,
    store,
    sessions,
    push,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
      await database.drop();
    },
  };
}
