import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { readPassword, type ClusterPaths } from './embedded-postgres-cluster.ts';
import { canConnect, STOP_TIMEOUT_MS, waitUntil } from './embedded-postgres-server.ts';

/**
 * Who may use the data directory: one owner runs PostgreSQL on it, any other flashcast process
 * on the same DATA_DIR joins that server.
 *
 * The owner holds `<dataDir>/postgres.lock`, created with link(2), which fails if the file
 * exists: of several processes starting at once exactly one becomes the owner. The lock names
 * the owner (pid and a random id, so a later process that got the same pid after a container
 * restart is not taken for it), then its postmaster, then, once PostgreSQL answers and the
 * `flashcast` database exists, its port: from then on others join instead of starting.
 *
 * PostgreSQL's own postmaster.pid interlock stays the last guard: whatever happens to our lock,
 * two postmasters never run on one cluster.
 */

export interface LockRecord {
  ownerPid: number;
  /** Tells this owner from an earlier process that had the same pid. */
  ownerId: string;
  /** 0 until the owner has spawned PostgreSQL. */
  postmasterPid: number;
  /** 0 until PostgreSQL answers and the database exists: joiners wait for a port. */
  port: number;
}

export type DataDirClaim = { role: 'owner'; ownerId: string } | { role: 'joiner'; ownerPid: number; port: number; password: string };

/** Thrown when the data directory is held by something flashcast cannot share or wait for. */
export class DataDirInUseError extends Error {
  readonly code = 'DATA_DIR_IN_USE';
  constructor(
    readonly pgDir: string,
    readonly pid: number,
    /** `postgres`: a server flashcast did not start; `flashcast`: an owner whose server never answered. */
    readonly holder: 'flashcast' | 'postgres',
    detail = '',
  ) {
    const by =
      holder === 'flashcast'
        ? `another flashcast process (pid ${pid}), whose PostgreSQL did not answer${detail}. Wait until it has ` +
          `started and try again, stop it (if no flashcast process ${pid} runs, delete ` +
          `${path.join(path.dirname(pgDir), 'postgres.lock')})`
        : `a PostgreSQL server (pid ${pid}) that flashcast did not start. Stop that server`;
    super(`PostgreSQL data directory ${pgDir} is already in use by ${by}, or set DATA_DIR to another folder.`);
    this.name = 'DataDirInUseError';
  }
}

/** Lock files this process holds, by path, with the owner id written in them. */
const claimedHere = new Map<string, string>();

/**
 * Becomes the owner of DATA_DIR, or returns the running server to join. A lock left by a
 * killed owner is cleared (its orphaned PostgreSQL stopped) and the claim tried again; an owner
 * that is alive but whose PostgreSQL does not answer yet (still starting) is waited for, up to
 * `joinTimeoutMs`.
 */
export async function claimOrJoin(paths: ClusterPaths, logger: Logger, joinTimeoutMs: number): Promise<DataDirClaim> {
  const deadline = Date.now() + joinTimeoutMs;
  let waitingLogged = false;
  for (;;) {
    const ownerId = randomUUID();
    if (await createLock(paths, { ownerPid: process.pid, ownerId, postmasterPid: 0, port: 0 })) {
      claimedHere.set(paths.lockFile, ownerId);
      try {
        await refuseForeignServer(paths, logger);
      } catch (error) {
        await releaseLock(paths, ownerId);
        throw error;
      }
      return { role: 'owner', ownerId };
    }

    const text = await fs.readFile(paths.lockFile, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // released meanwhile: claim again
    const lock = parseLock(text);
    if (!lock || !ownerAlive(paths, lock)) {
      await stopOrphan(paths, lock, logger);
      await removeLockIfUnchanged(paths, text);
      continue;
    }
    if (lock.port > 0) {
      const password = await readPassword(paths);
      if (password && (await canConnect(lock.port, password))) {
        return { role: 'joiner', ownerPid: lock.ownerPid, port: lock.port, password };
      }
      // It answered once; with no postmaster left, the owner either lost it (and is about to
      // clear the lock) or its pid now belongs to another program: either way the lock is stale.
      if ((await liveInCluster(paths)).length === 0) {
        await removeLockIfUnchanged(paths, text);
        continue;
      }
    }
    if (Date.now() >= deadline) {
      throw new DataDirInUseError(paths.pgDir, lock.ownerPid, 'flashcast', ` within ${Math.round(joinTimeoutMs / 1000)} s`);
    }
    if (!waitingLogged) {
      logger.info({ ownerPid: lock.ownerPid }, 'waiting for the flashcast process that owns DATA_DIR to start PostgreSQL');
      waitingLogged = true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Records the owner's progress (postmaster, then port). Throws if the lock is no longer ours. */
export async function updateLock(paths: ClusterPaths, record: LockRecord): Promise<void> {
  const current = parseLock(await fs.readFile(paths.lockFile, 'utf8').catch(() => ''));
  if (current?.ownerId !== record.ownerId) {
    throw new Error(`Another process took over ${paths.lockFile} while this one was starting PostgreSQL; start again.`);
  }
  const scratch = `${paths.lockFile}.${process.pid}.tmp`;
  await fs.writeFile(scratch, `${JSON.stringify(record)}\n`);
  await fs.rename(scratch, paths.lockFile);
}

/** Removes the lock if it still names this owner: a successor's lock is never removed. */
export async function releaseLock(paths: ClusterPaths, ownerId: string): Promise<void> {
  if (claimedHere.get(paths.lockFile) === ownerId) claimedHere.delete(paths.lockFile);
  const text = await fs.readFile(paths.lockFile, 'utf8').catch(() => undefined);
  if (text !== undefined && parseLock(text)?.ownerId === ownerId) await removeLockIfUnchanged(paths, text);
}

/** Exclusive create with complete content: readers never see a half-written lock. */
async function createLock(paths: ClusterPaths, record: LockRecord): Promise<boolean> {
  const scratch = `${paths.lockFile}.${record.ownerId}.tmp`;
  await fs.writeFile(scratch, `${JSON.stringify(record)}\n`);
  try {
    await fs.link(scratch, paths.lockFile);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await fs.rm(scratch, { force: true });
  }
}

/**
 * Read, compare, remove: two processes clearing the same stale lock at once could otherwise
 * remove the lock one of them has just created. The window left is microseconds wide, and
 * PostgreSQL's interlock covers it.
 */
async function removeLockIfUnchanged(paths: ClusterPaths, seen: string): Promise<void> {
  const now = await fs.readFile(paths.lockFile, 'utf8').catch(() => undefined);
  if (now === seen) await fs.rm(paths.lockFile, { force: true });
}

function parseLock(text: string): LockRecord | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockRecord>;
    if (typeof value.ownerPid === 'number' && typeof value.postmasterPid === 'number' && typeof value.port === 'number') {
      return { ownerId: '', ...value } as LockRecord;
    }
  } catch {
    // not ours, or damaged: no owner to wait for
  }
  return undefined;
}

function ownerAlive(paths: ClusterPaths, lock: LockRecord): boolean {
  if (lock.ownerPid === process.pid) return claimedHere.get(paths.lockFile) === lock.ownerId;
  return isAlive(lock.ownerPid);
}

/**
 * A PostgreSQL still running although the flashcast process that started it was killed (the
 * dead owner's lock names it): stopped with a fast shutdown, so the next owner starts afresh.
 */
async function stopOrphan(paths: ClusterPaths, lock: LockRecord | undefined, logger: Logger): Promise<void> {
  const pid = lock?.postmasterPid ?? 0;
  if (pid <= 0 || !(await liveInCluster(paths)).includes(pid)) return;
  logger.warn(
    { postmasterPid: pid, ownerPid: lock?.ownerPid },
    'stopping the PostgreSQL left running by a flashcast process that was killed',
  );
  try {
    process.kill(pid, 'SIGINT'); // fast shutdown
  } catch {
    // already gone
  }
  const gone = async (): Promise<boolean> => (await liveInCluster(paths)).length === 0;
  if (!(await waitUntil(gone, STOP_TIMEOUT_MS))) throw new DataDirInUseError(paths.pgDir, pid, 'postgres');
}

/**
 * Run by a new owner: refuses while any process runs in the cluster (a PostgreSQL flashcast did
 * not start: we must not share a server whose password we may not know, nor stop it), and
 * removes a postmaster.pid whose pid is dead or now belongs to another process (pid reuse after
 * a container restart would make PostgreSQL refuse to start).
 */
async function refuseForeignServer(paths: ClusterPaths, logger: Logger): Promise<void> {
  const pidFile = path.join(paths.pgDir, 'postmaster.pid');
  const postmasterPid = await readPostmasterPid(pidFile);
  const inside = await processesInDir(paths.pgDir);
  const live = inside ?? (postmasterPid !== undefined && isAlive(postmasterPid) ? [postmasterPid] : []);
  if (live.length > 0) {
    const pid = postmasterPid !== undefined && live.includes(postmasterPid) ? postmasterPid : live[0]!;
    throw new DataDirInUseError(paths.pgDir, pid, 'postgres');
  }
  if (postmasterPid !== undefined && inside !== undefined) {
    logger.info({ postmasterPid }, 'removing the stale postmaster.pid of a PostgreSQL that is no longer running');
    await fs.rm(pidFile, { force: true });
  }
}

/** Pids running in the cluster; where /proc is missing (macOS), the recorded postmaster if alive. */
async function liveInCluster(paths: ClusterPaths): Promise<number[]> {
  const inside = await processesInDir(paths.pgDir);
  if (inside) return inside;
  const postmasterPid = await readPostmasterPid(path.join(paths.pgDir, 'postmaster.pid'));
  return postmasterPid !== undefined && isAlive(postmasterPid) ? [postmasterPid] : [];
}

async function readPostmasterPid(pidFile: string): Promise<number | undefined> {
  const text = await fs.readFile(pidFile, 'utf8').catch(() => undefined);
  const pid = Number.parseInt(text?.split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
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
