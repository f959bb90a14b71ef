import { runner } from 'node-pg-migrate';
import type { Logger } from '../logger.ts';
import { migrationsDir } from '../project-paths.ts';

/**
 * Applies the SQL migrations in migrations/ that have not run yet, in one transaction under
 * node-pg-migrate's advisory lock. Two processes starting together both call this: the
 * second waits for the lock ('wait' mode), then finds nothing left to apply.
 */
export async function migrate(options: { databaseUrl: string; logger: Logger }): Promise<string[]> {
  const applied = await runner({
    databaseUrl: options.databaseUrl,
    dir: migrationsDir,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    singleTransaction: true,
    advisoryLockMode: 'wait',
    checkOrder: true,
    verbose: false,
    log: (message: string) => options.logger.debug(message),
    logger: {
      debug: (message: string) => options.logger.debug(message),
      info: (message: string) => options.logger.debug(message),
      warn: (message: string) => options.logger.warn(message),
      // The error is thrown as well, and the entry point reports it once, in one sentence.
      error: (message: string) => options.logger.debug(message),
    },
  });
  const names = applied.map((migration) => migration.name);
  if (names.length > 0) options.logger.info({ migrations: names }, 'applied migrations');
  return names;
}
