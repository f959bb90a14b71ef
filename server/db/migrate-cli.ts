import { ConfigError, loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { startEmbeddedPostgres } from './embedded-postgres.ts';
import { migrate } from './migrate.ts';

/** `npm run migrate`: applies pending migrations and exits (embedded PostgreSQL if no DATABASE_URL). */
try {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const embedded = config.databaseUrl ? undefined : await startEmbeddedPostgres({ dataDir: config.dataDir, logger });
  try {
    const applied = await migrate({ databaseUrl: config.databaseUrl ?? embedded!.url, logger });
    logger.info(applied.length > 0 ? `applied ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await embedded?.stop();
  }
} catch (error) {
  process.stderr.write(`flashcast migrate: ${error instanceof ConfigError ? error.message : (error as Error).message}\n`);
  process.exitCode = error instanceof ConfigError ? 78 : 1;
}
