import { type Config, ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { createMetrics } from './metrics.ts';
import { describeStartupFailure } from './startup-failure.ts';
import { startSystem } from './system.ts';

/**
 * How long an orderly stop may take: past it, the process exits non-zero, naming the step
 * it was waiting for. Under the 30 s a container runtime or systemd waits before SIGKILL.
 */
const STOP_DEADLINE_MS = 25_000;

/** The entry point: reads the environment, starts, and turns signals into an orderly stop. */
async function main(): Promise<void> {
  let config: Config;
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
  // Readable lines for a person at a terminal; JSON for everything else (and in production).
  const logger = createLogger(config.logLevel, { pretty: process.stdout.isTTY === true && config.env !== 'production' });
  const system = await startSystem(config, logger, createMetrics()).catch((error: unknown) => {
    logger.debug({ err: error }, 'start failed');
    logger.flush();
    process.stderr.write(`flashcast could not start: ${describeStartupFailure(error, config)}\n`);
    process.exit(1);
  });
  const metricsUrl = system.metricsUrl ? { metricsUrl: system.metricsUrl } : {};
  if (system.url) {
    logger.info(
      { url: system.url, role: config.role, ...metricsUrl },
      `flashcast is serving ${system.url} (ops console: ${system.url}/ops)`,
    );
    if (!config.opsToken) logger.info(`development OPS_TOKEN: ${system.opsToken}`);
  } else {
    logger.info(
      { role: config.role, ...metricsUrl },
      `flashcast worker started${system.metricsUrl ? ` (metrics: ${system.metricsUrl}/metrics)` : ''}`,
    );
  }

  // The first signal stops in order (stop taking work, drain, close); a second one, or the
  // deadline, ends the process at once.
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn(
        { signal, step: system.stopping() },
        `second ${signal}: exiting at once, without waiting for ${system.stopping() ?? 'the stop'}`,
      );
      logger.flush();
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    const deadline = setTimeout(() => {
      const step = system.stopping() ?? 'the stop';
      logger.error({ step, deadlineMs: STOP_DEADLINE_MS }, `${step} did not stop within ${STOP_DEADLINE_MS / 1000} s; exiting anyway`);
      logger.flush();
      process.exit(1);
    }, STOP_DEADLINE_MS);
    system.stop().then(
      () => {
        clearTimeout(deadline);
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
