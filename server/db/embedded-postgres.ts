import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  clusterPaths,
  ensureClusterOwner,
  exists,
  initCluster,
  postgresAccount,
  postgresBinaries,
  prepareDataDir,
  readOrCreatePassword,
  writeFileAtomic,
  type Account,
  type ClusterPaths,
} from './embedded-postgres-cluster.ts';
import { claimOrJoin, releaseLock, updateLock } from './embedded-postgres-lock.ts';
import {
  connectionUrl,
  DATABASE,
  ensureDatabase,
  freePort,
  PortTakenError,
  spawnServer,
  START_TIMEOUT_MS,
  stopProcess,
  type RunningServer,
} from './embedded-postgres-server.ts';

export { DataDirInUseError } from './embedded-postgres-lock.ts';

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
 *   us, and the owner's `stop()` decides when PostgreSQL goes.
 * - Importing the package registers `async-exit-hook` on SIGINT, SIGTERM, SIGHUP, `beforeExit`
 *   and `message`, which calls `process.exit()` as soon as its own hooks finish: it would cut
 *   our shutdown short, turn a natural end into `process.exit(0)` (losing `process.exitCode`)
 *   and keep a forked child's IPC channel referenced. We unhook it right after import
 *   (embedded-postgres-cluster.ts).
 * - Its start promise rejects with `undefined` when postgres exits, and waits for an English log
 *   line; we wait until a real connection succeeds and report the server's last log lines.
 *
 * One PostgreSQL per DATA_DIR, shared by every flashcast process on the machine that uses that
 * DATA_DIR (`npm start`, a second web process on another PORT, `npm run worker`). The first
 * becomes its owner: it starts it and its stop() stops it. The others join: they check that the
 * running server answers and use it; their stop() leaves it running (embedded-postgres-lock.ts
 * says how the owner is chosen and how a killed owner's leftovers are cleared).
 *
 * When the owner stops while others still run, PostgreSQL stops with it: the others then see a
 * database outage, which every process survives (503s, retries), and they reconnect once an
 * owner runs again. A new owner binds the port of the last start when it is free, so the
 * joiners' URL stays right. Nobody takes over automatically: restarting a process that runs
 * PostgreSQL is a decision for the person at the terminal, not a race between joiners.
 */

export interface EmbeddedDatabase {
  /** postgres:// URL of the `flashcast` database. */
  readonly url: string;
  /** True if this process started PostgreSQL (and stops it); false if it joined another's. */
  readonly owner: boolean;
  /**
   * Owner: fast shutdown (clients disconnected, checkpoint written) and removes our lock.
   * Joiner: nothing to do, PostgreSQL keeps running for its owner. Idempotent either way.
   */
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  /** DATA_DIR: the cluster lives in `<dataDir>/pg`, our files beside it. */
  dataDir: string;
  logger: Logger;
  /**
   * TCP port on 127.0.0.1 when this process starts PostgreSQL. Unset: the port of the last
   * start if free, else a free one.
   */
  port?: number;
  /**
   * For throwaway clusters (tests): no fsync, no full-page writes. A crash of the machine may
   * then corrupt the cluster, so never set this for DATA_DIR.
   */
  ephemeral?: boolean;
  /** How long a joiner waits for an owner that is still starting PostgreSQL (default 90 s). */
  joinTimeoutMs?: number;
}

/** An owner's start is initdb plus at most START_TIMEOUT_MS of PostgreSQL's own start. */
const JOIN_TIMEOUT_MS = START_TIMEOUT_MS + 30_000;
/** How long a smart shutdown may wait for connections that are already closing. */
const SMART_STOP_TIMEOUT_MS = 3_000;

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedDatabase> {
  const logger = options.logger.child({ component: 'embedded-postgres' });
  const paths = clusterPaths(path.resolve(options.dataDir));
  await fs.mkdir(paths.dataDir, { recursive: true, mode: 0o755 });

  const claim = await claimOrJoin(paths, logger, options.joinTimeoutMs ?? JOIN_TIMEOUT_MS);
  if (claim.role === 'joiner') {
    logger.info({ port: claim.port, ownerPid: claim.ownerPid }, 'using the embedded PostgreSQL of another flashcast process');
    return Object.freeze({
      url: connectionUrl(claim.port, claim.password, DATABASE),
      owner: false,
      stop: (): Promise<void> => Promise.resolve(), // the owner stops it
    });
  }
  try {
    return await startOwner(paths, claim.ownerId, options, logger);
  } catch (error) {
    await releaseLock(paths, claim.ownerId);
    throw error;
  }
}

async function startOwner(
  paths: ClusterPaths,
  ownerId: string,
  options: EmbeddedPostgresOptions,
  logger: Logger,
): Promise<EmbeddedDatabase> {
  const startedAt = Date.now();
  const account = await postgresAccount();
  await prepareDataDir(paths.dataDir, account);

  const password = await readOrCreatePassword(paths, logger);
  if (!(await exists(paths.pgDir))) await initCluster(paths, password, options.ephemeral ?? false, logger);
  else await ensureClusterOwner(paths.pgDir, account, logger);

  const running = await spawnOnSomePort(paths, ownerId, password, account, options, logger);
  const lock = { ownerPid: process.pid, ownerId, postmasterPid: running.child.pid ?? 0 };

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
    void releaseLock(paths, ownerId);
  });

  try {
    await ensureDatabase(running.port, password);
    // From here on other processes join this server.
    await updateLock(paths, { ...lock, port: running.port });
    await writeFileAtomic(paths.portFile, `${running.port}\n`);
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
    // connected after a moment (a joiner's pool) gets the fast shutdown.
    if (!(await stopProcess(running.child, logger, 'SIGTERM', SMART_STOP_TIMEOUT_MS)) && !(await stopProcess(running.child, logger))) {
      logger.warn('embedded PostgreSQL did not stop in time; sending SIGQUIT (immediate shutdown)');
      running.child.kill('SIGQUIT');
      await stopProcess(running.child, logger, 'none');
    }
    await releaseLock(paths, ownerId);
    logger.debug('embedded PostgreSQL stopped');
  }

  return Object.freeze({
    url: connectionUrl(running.port, password, DATABASE),
    owner: true,
    stop(): Promise<void> {
      stopping ??= shutdown();
      return stopping;
    },
  });
}

/**
 * The port of the last start first: joiners that outlived the previous owner keep their URL
 * and reconnect once the new owner runs. A free one when it is taken, or when another program
 * takes the free port between our probe and postgres' bind.
 */
async function spawnOnSomePort(
  paths: ClusterPaths,
  ownerId: string,
  password: string,
  account: Account | undefined,
  options: EmbeddedPostgresOptions,
  logger: Logger,
): Promise<RunningServer> {
  const binaries = await postgresBinaries();
  const lastPort = Number.parseInt(await fs.readFile(paths.portFile, 'utf8').catch(() => ''), 10);
  const record = (postmasterPid: number): Promise<void> => updateLock(paths, { ownerPid: process.pid, ownerId, postmasterPid, port: 0 });
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (attempt === 1 && lastPort > 0 && lastPort < 65536 ? lastPort : await freePort());
    try {
      return await spawnServer(binaries.postgres, paths, port, password, account, options.ephemeral ?? false, logger, record);
    } catch (error) {
      const retry = options.port === undefined && attempt < 3 && error instanceof PortTakenError;
      if (!retry) throw error;
      logger.debug({ port }, 'port taken before PostgreSQL could bind it; trying another');
    }
  }
}
