import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import pg from 'pg';
import type { Logger } from 'pino';
import { USER, type Account, type ClusterPaths } from './embedded-postgres-cluster.ts';

/** The postmaster process: spawned detached, watched until it answers, stopped by signal. */

export const DATABASE = 'flashcast';
export const START_TIMEOUT_MS = 60_000;
export const STOP_TIMEOUT_MS = 30_000;

export class PortTakenError extends Error {}

export interface RunningServer {
  child: ChildProcess;
  port: number;
  recentLog(): string[];
}

export async function spawnServer(
  binary: string,
  paths: ClusterPaths,
  port: number,
  password: string,
  account: Account | undefined,
  ephemeral: boolean,
  logger: Logger,
  /** Called once the postmaster has a pid, before it answers (the owner records it in its lock). */
  onSpawned: (pid: number) => Promise<void>,
): Promise<RunningServer> {
  const args = [
    '-D',
    paths.pgDir,
    '-p',
    String(port),
    '-h',
    '127.0.0.1',
    // No Unix socket: clients use the URL's TCP port, and several clusters never collide on
    // /tmp/.s.PGSQL.<port> or need /var/run/postgresql.
    '-k',
    '',
    '-c',
    'log_line_prefix=[%p] ',
    ...(ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
  const recent: string[] = [];
  const child = spawn(binary, args, {
    // Own session and process group: the terminal's Ctrl-C reaches only us, so we close our
    // pool first and stop PostgreSQL last (see the owner's stop() in embedded-postgres.ts).
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...(account ?? {}),
  });
  const onOutput = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      recent.push(line);
      if (recent.length > 20) recent.shift();
      logger.debug({ source: 'postgres' }, line);
    }
  };
  child.stdout?.on('data', onOutput);
  child.stderr?.on('data', onOutput);

  const exited = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const log = recent.join('\n');
      const message = `PostgreSQL exited while starting (code ${code ?? 'none'}, signal ${signal ?? 'none'}):\n${log}`;
      reject(/could not bind|Address already in use/i.test(log) ? new PortTakenError(message) : new Error(message));
    });
  });
  exited.catch(() => undefined);
  if (child.pid !== undefined) {
    try {
      await onSpawned(child.pid);
    } catch (error) {
      child.kill('SIGQUIT');
      throw error;
    }
  }

  const hasExited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  // Polling stops as soon as the child exits; `exited` then carries the reason.
  const ready = waitUntil(async () => hasExited() || (await canConnect(port, password)), START_TIMEOUT_MS);
  const started = await Promise.race([ready, exited]);
  if (hasExited()) await exited;
  if (!started) {
    child.kill('SIGQUIT');
    throw new Error(`PostgreSQL did not accept connections within ${START_TIMEOUT_MS / 1000} s:\n${recent.join('\n')}`);
  }
  return { child, port, recentLog: () => [...recent] };
}

/** Resolves true once the child exited, false after the timeout (signal already sent). */
export function stopProcess(
  child: ChildProcess,
  logger: Logger,
  signal: NodeJS.Signals | 'none' = 'SIGINT',
  timeoutMs = STOP_TIMEOUT_MS,
): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
    // SIGTERM is PostgreSQL's "smart" shutdown (wait for clients to leave), SIGINT its "fast"
    // one (disconnect clients, checkpoint, exit).
    if (signal !== 'none' && !child.kill(signal)) logger.debug('PostgreSQL had already exited');
  });
}

export async function canConnect(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: connectionUrl(port, password, 'postgres'), connectionTimeoutMillis: 2_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false; // not listening yet, or "the database system is starting up"
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function ensureDatabase(port: number, password: string): Promise<void> {
  const client = new pg.Client({ connectionString: connectionUrl(port, password, 'postgres') });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [DATABASE]);
    if (found.rowCount === 0) {
      await client.query(`create database ${client.escapeIdentifier(DATABASE)}`).catch((error: unknown) => {
        if ((error as { code?: string }).code !== '42P04') throw error; // created meanwhile
      });
    }
  } finally {
    await client.end();
  }
}

export function connectionUrl(port: number, password: string, database: string): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** Asks the OS for a free port (port 0), then lets it go for PostgreSQL to bind. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
