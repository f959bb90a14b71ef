import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../server/db/embedded-postgres.ts';
import { createLogger } from '../../server/logger.ts';

/**
 * One real PostgreSQL for the whole test run, in a fresh folder that is removed afterwards.
 * Test files reach it through `inject('databaseUrl')`, usually via createTestDatabase() so
 * that each file owns a database of its own. LOG_LEVEL=debug shows the server's log.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  // mkdtemp makes the folder 0700; as root, PostgreSQL runs as the `postgres` user, which
  // must be able to enter it (/tmp itself is 1777).
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'flashcast-test-'));
  await fs.chmod(dataDir, 0o755);
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  try {
    const database = await startEmbeddedPostgres({ dataDir, logger, ephemeral: true });
    project.provide('databaseUrl', database.url);
    logger.info({ ms: Date.now() - started, dataDir }, 'test PostgreSQL ready');
    return async () => {
      await database.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    };
  } catch (error) {
    await fs.rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}
