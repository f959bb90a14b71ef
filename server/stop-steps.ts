import type { Logger } from './logger.ts';

/**
 * The steps of an orderly stop, collected as things start and run in the reverse order:
 * stop taking work, drain the jobs, close sockets and servers, then the pools, then the
 * database. Each is named, for the log line when a stop overruns its deadline.
 */
export type StopStep = (() => Promise<void>) & { what?: string };

export const named = (what: string, run: () => Promise<void>): StopStep => Object.assign(run, { what });

/** Runs the steps last-first, each once (the list is emptied); one that fails is logged and the next runs. */
export async function runStopSteps(stops: StopStep[], logger: Logger, onStep?: (what: string | undefined) => void): Promise<void> {
  for (const step of stops.splice(0).reverse()) {
    onStep?.(step.what);
    try {
      await step();
    } catch (error) {
      logger.error({ err: error, step: step.what }, 'shutdown step failed');
    }
  }
  onStep?.(undefined);
}
