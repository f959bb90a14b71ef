import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /**
   * Human-readable lines (pino-pretty) instead of JSON: for a person at a terminal in
   * development. pino-pretty is a dev dependency; where it is not installed (a production
   * install), the lines stay JSON.
   */
  pretty?: boolean;
}

export function createLogger(level: string, options: LoggerOptions = {}): Logger {
  const base = { level, base: { pid: process.pid } };
  if (options.pretty && installed('pino-pretty')) {
    return pino({ ...base, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(base);
}

function installed(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name);
    return true;
  } catch {
    return false;
  }
}
