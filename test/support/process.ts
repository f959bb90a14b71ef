import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const rootDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface StartedProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
}

/**
 * Runs `server/main.ts` as `npm start` does (after the build), in its own process group so a
 * test can send a Ctrl-C to the whole group. Resolves once it logs the URL it serves.
 */
export function startProcess(
  env: Record<string, string>,
  entry = 'server/main.ts',
  /** The log line that says it is up; default: the one naming the URL it serves (a worker has none). */
  ready: RegExp = /"url":"(http:\/\/[^"]+)"/,
  /** `compiled`: plain `node <entry>` in `cwd` (a production install), without the TypeScript loader. */
  launch: { cwd?: string; compiled?: boolean } = {},
): Promise<StartedProcess> {
  const child = spawn(process.execPath, launch.compiled ? [entry] : ['--import', 'tsx', entry], {
    cwd: launch.cwd ?? rootDir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', PORT: '0', LOG_LEVEL: 'info', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) resolve({ child, url: match[1] ?? '', output: () => output, exited });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    exited.then((code) => reject(new Error(`process exited (${code}) before serving:\n${output}`)));
  });
}

/** Runs a command to its end and returns its exit code and output. */
export function runToEnd(
  env: Record<string, string>,
  entry = 'server/main.ts',
  args: string[] = [],
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: rootDir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}
