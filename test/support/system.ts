import pg from 'pg';
import { loadConfig } from '../../server/config.ts';
import { startSystem, type RunningSystem } from '../../server/system.ts';
import { TEST_OPS_TOKEN, TEST_SESSION_SECRET, testLogger } from './app.ts';
import { createTestDatabase } from './database.ts';

export interface TestSystem {
  url: string;
  /** A pool of the test's own on the system's database, for looking at rows. */
  pool: pg.Pool;
  system: RunningSystem;
  close(): Promise<void>;
}

/**
 * The whole of flashcast in this process, wired by server/system.ts exactly as `npm start`
 * wires it (ROLE=all: every ops route, Agendash, the jobs, Socket.IO), on a fresh database of
 * the run's PostgreSQL, listening on port 0.
 */
export async function startTestSystem(env: Record<string, string> = {}): Promise<TestSystem> {
  const database = await createTestDatabase();
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: database.url,
    PORT: '0',
    HOST: '127.0.0.1',
    OPS_TOKEN: TEST_OPS_TOKEN,
    SESSION_SECRET: TEST_SESSION_SECRET,
    DATABASE_POOL_MAX: '10',
    ...env,
  });
  const system = await startSystem(config, testLogger);
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  return {
    url: system.url!,
    pool,
    system,
    async close() {
      await system.stop();
      await pool.end();
      await database.drop();
    },
  };
}
