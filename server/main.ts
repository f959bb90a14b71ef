import { ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { startSystem } from './system.ts';

/** The entry point: reads the environment, starts, and turns signals into an orderly stop. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`flashcast: ${error.message}\n`);
      process.exitCode = 78; // EX_CONFIG
      return;
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  const system = await startSystem(config, logger).catch((error: unknown) => {
    logger.fatal({ err: error }, (error as Error).message);
    process.exit(1);
  });
  if (system.url) {
    logger.info({ url: system.url, role: config.role }, `flashcast is serving ${system.url} (ops console: ${system.url}/ops)`);
    if (!config.opsToken) logger.info(`development OPS_TOKEN: ${system.opsToken}`);
  } else {
    logger.info({ role: config.role }, 'flashcast worker started');
  }

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    system.stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

await main();
