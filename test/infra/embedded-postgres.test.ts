import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { DataDirInUseError, startEmbeddedPostgres, type EmbeddedDatabase } from '../../server/db/embedded-postgres.ts';
import { createTestDatabase } from '../support/database.ts';
import { startProcess } from '../support/process.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const logger = pino({ level: 'silent' });

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('the run-wide test database', () => {
  it('when a test connects to the injected database, then select 1 answers', async () => {
    const rows = await query<{ one: number }>(inject('databaseUrl'), 'select 1 as one');
    expect(rows).toEqual([{ one: 1 }]);
  });

  it('when a test creates its own database, then it starts empty and is gone after drop', async () => {
    const database = await createTestDatabase();
    await query(database.url, 'create table mine (id int)');
    const [row] = await query<{ name: string }>(database.url, 'select current_database() as name');
    await database.drop();
    await database.drop();

    const left = await query(inject('databaseUrl'), `select 1 from pg_database where datname = '${row!.name}'`);
    expect(left).toHaveLength(0);
  });
});

describe('startEmbeddedPostgres', () => {
  const dataDirs: string[] = [];
  const servers: EmbeddedDatabase[] = [];
  const children: ChildProcess[] = [];

  async function freshDataDir(): Promise<string> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'flashcast-ep-test-'));
    await fs.chmod(dir, 0o755);
    dataDirs.push(dir);
    return dir;
  }

  async function start(dataDir: string, joinTimeoutMs?: number): Promise<EmbeddedDatabase> {
    const server = await startEmbeddedPostgres({ dataDir, logger, ephemeral: true, joinTimeoutMs });
    servers.push(server);
    return server;
  }

  /**
   * Another flashcast process holding dataDir, in its own process group like a program started
   * from a terminal; resolves once its PostgreSQL is ready. On SIGINT it still queries the
   * database before stopping it, as the app closes its pool before PostgreSQL.
   */
  async function startInOtherProcess(dataDir: string): Promise<ChildProcess> {
    const moduleUrl = pathToFileURL(path.join(repoRoot, 'server/db/embedded-postgres.ts')).href;
    const code = `
      const { startEmbeddedPostgres } = await import(${JSON.stringify(moduleUrl)});
      const { pino } = await import('pino');
      const { default: pg } = await import('pg');
      const db = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, logger: pino({ level: 'silent' }), ephemeral: true });
      process.on('SIGTERM', () => db.stop().then(() => process.exit(0)));
      process.on('SIGINT', async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const client = new pg.Client(db.url);
        await client.connect();
        const { rows } = await client.query('select 1 as one');
        await client.end();
        await db.stop();
        console.log('after SIGINT ' + rows[0].one);
      });
      console.log('ready');
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
      cwd: repoRoot,
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.push(child);
    const [line] = (await Promise.race([
      once(child.stdout!, 'data'),
      once(child, 'exit').then(([exitCode]) => Promise.reject(new Error(`child exited with ${exitCode}`))),
    ])) as [Buffer];
    expect(line.toString()).toContain('ready');
    return child;
  }

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
    }
    await Promise.all(servers.splice(0).map((server) => server.stop()));
  });

  afterAll(async () => {
    await Promise.all(dataDirs.map((dir) => fs.rm(dir, { recursive: true, force: true })));
  });

  it('when it is stopped and started again on the same DATA_DIR, then the data is kept', async () => {
    const dataDir = await freshDataDir();
    const first = await start(dataDir);
    expect(first.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/flashcast$/);
    await query(first.url, "create table kept (note text); insert into kept values ('still here')");
    await first.stop();

    const second = await start(dataDir);
    expect(await query(second.url, 'select note from kept')).toEqual([{ note: 'still here' }]);
  });

  it('when stop() is called twice, then both calls resolve and no lock is left behind', async () => {
    const dataDir = await freshDataDir();
    const server = await start(dataDir);
    await Promise.all([server.stop(), server.stop()]);
    await server.stop();

    const left = await fs.readdir(dataDir);
    expect(left).not.toContain('postgres.lock');
    expect(await fs.readdir(path.join(dataDir, 'pg'))).not.toContain('postmaster.pid');
    await expect(query(server.url, 'select 1')).rejects.toThrow();
  });

  it('when a second instance starts on a running DATA_DIR, then it joins, and its stop leaves PostgreSQL to the owner', async () => {
    const dataDir = await freshDataDir();
    const owner = await start(dataDir);
    const joiner = await start(dataDir);
    expect([owner.owner, joiner.owner]).toEqual([true, false]);
    expect(joiner.url).toBe(owner.url);
    await query(joiner.url, 'create table shared (id int)');

    await joiner.stop();
    await joiner.stop();
    expect(await query(owner.url, 'select count(*)::int as n from shared')).toEqual([{ n: 0 }]);
    expect(await fs.readdir(dataDir)).toContain('postgres.lock');
  });

  it('when the owner stops while a joiner runs, then PostgreSQL stops, and the next start owns it on the same URL', async () => {
    const dataDir = await freshDataDir();
    const owner = await start(dataDir);
    const joiner = await start(dataDir);

    await owner.stop();
    await expect(query(joiner.url, 'select 1')).rejects.toThrow();
    expect(await fs.readdir(dataDir)).not.toContain('postgres.lock');

    // The new owner binds the last start's port, so the joiner's URL works again.
    const next = await start(dataDir);
    expect(next.owner).toBe(true);
    expect(next.url).toBe(joiner.url);
    expect(await query(joiner.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('when two instances start at once on an empty DATA_DIR, then one owns PostgreSQL and the other waits and joins', async () => {
    const dataDir = await freshDataDir();
    const both = await Promise.all([start(dataDir), start(dataDir)]);

    expect(both.map((server) => server.owner).sort()).toEqual([false, true]);
    expect(both[0]!.url).toBe(both[1]!.url);
    expect(await query(both[1]!.url, 'select current_database() as name')).toEqual([{ name: 'flashcast' }]);
  });

  it('when another flashcast process runs PostgreSQL on DATA_DIR, then a start joins it and its stop leaves it running', async () => {
    const dataDir = await freshDataDir();
    await startInOtherProcess(dataDir);

    const joiner = await start(dataDir);
    expect(joiner.owner).toBe(false);
    expect(await query(joiner.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    await joiner.stop();
    expect(await fs.readdir(dataDir)).toContain('postgres.lock');
    expect(await query(joiner.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('when the owner is alive but its PostgreSQL never answers, then a start gives up after the timeout naming the owner', async () => {
    const dataDir = await freshDataDir();
    const stuck = spawn('sleep', ['30']);
    children.push(stuck);
    const lock = { ownerPid: stuck.pid, ownerId: 'stuck', postmasterPid: 0, port: 0 };
    await fs.writeFile(path.join(dataDir, 'postgres.lock'), JSON.stringify(lock));

    const startedAt = Date.now();
    const error = await start(dataDir, 500).catch((rejection: unknown) => rejection);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(500);
    expect(error).toBeInstanceOf(DataDirInUseError);
    expect((error as Error).message).toBe(
      `PostgreSQL data directory ${path.join(dataDir, 'pg')} is already in use by another flashcast process ` +
        `(pid ${stuck.pid}), whose PostgreSQL did not answer within 1 s. Wait until it has started and try again, ` +
        `stop it (if no flashcast process ${stuck.pid} runs, delete ${path.join(dataDir, 'postgres.lock')}), ` +
        'or set DATA_DIR to another folder.',
    );
  });

  it('when a PostgreSQL that flashcast did not start runs on DATA_DIR, then a start refuses, saying what to do', async () => {
    const dataDir = await freshDataDir();
    const running = await start(dataDir);
    // Without our lock, the running server is as foreign as one started by hand with pg_ctl.
    await fs.rm(path.join(dataDir, 'postgres.lock'));

    const error = await start(dataDir).catch((rejection: unknown) => rejection);
    expect(error).toBeInstanceOf(DataDirInUseError);
    expect((error as Error).message).toMatch(
      /^PostgreSQL data directory .+\/pg is already in use by a PostgreSQL server \(pid \d+\) that flashcast did not start\. Stop that server, or set DATA_DIR to another folder\.$/,
    );
    expect(await query(running.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('when the owner was killed and a stale lock with a live pid of this process remains, then the next start owns it', async () => {
    const dataDir = await freshDataDir();
    // A container restart can give the new process the old owner's pid.
    const lock = { ownerPid: process.pid, ownerId: 'before-the-restart', postmasterPid: 0, port: 0 };
    await fs.writeFile(path.join(dataDir, 'postgres.lock'), JSON.stringify(lock));

    const server = await start(dataDir, 500);
    expect(server.owner).toBe(true);
  });

  it('when Ctrl-C signals the whole process group, then PostgreSQL keeps serving until the app stops it', async () => {
    const dataDir = await freshDataDir();
    const other = await startInOtherProcess(dataDir);
    const output: string[] = [];
    other.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));

    process.kill(-other.pid!, 'SIGINT'); // what a terminal does: the group, not one pid
    const [exitCode] = await once(other, 'exit');

    expect(exitCode).toBe(0);
    expect(output.join('')).toContain('after SIGINT 1');
    expect(await fs.readdir(dataDir)).not.toContain('postgres.lock');
    expect(await fs.readdir(path.join(dataDir, 'pg'))).not.toContain('postmaster.pid');
  });

  it('when the flashcast process that started PostgreSQL was killed, then the next start stops its orphan and starts', async () => {
    const dataDir = await freshDataDir();
    const other = await startInOtherProcess(dataDir);
    const otherUrl = `postgres://postgres:${await password(dataDir)}@127.0.0.1:${await lockedPort(dataDir)}/flashcast`;
    await query(otherUrl, 'create table survived (id int)');
    other.kill('SIGKILL');
    await once(other, 'exit');

    const server = await start(dataDir);
    expect(await query(server.url, 'select count(*)::int as n from survived')).toEqual([{ n: 0 }]);
  });

  it('when a stale postmaster.pid names a pid now used by another postgres process, then the next start is not blocked', async () => {
    const dataDir = await freshDataDir();
    const first = await start(dataDir);
    await first.stop();
    // The worst stale case, pid reuse: a live process of the postgres user (a backend of the
    // run's server), which PostgreSQL's own check would take for a running postmaster.
    const backend = new pg.Client({ connectionString: inject('databaseUrl') });
    await backend.connect();
    try {
      const { rows } = await backend.query<{ pid: number }>('select pg_backend_pid() as pid');
      await fs.writeFile(path.join(dataDir, 'pg', 'postmaster.pid'), `${rows[0]!.pid}\n${path.join(dataDir, 'pg')}\n`);

      const second = await start(dataDir);
      expect(await query(second.url, 'select 1 as one')).toEqual([{ one: 1 }]);
    } finally {
      await backend.end();
    }
  });
});

describe('npm start and npm run worker on one DATA_DIR', () => {
  let dataDir: string;
  afterAll(async () => {
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('when a web process runs, then a second web process and a worker join its PostgreSQL, and all stop on SIGTERM', async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'flashcast-ep-split-'));
    await fs.chmod(dataDir, 0o755);
    const web = await startProcess({ DATA_DIR: dataDir });
    const secondWeb = await startProcess({ DATA_DIR: dataDir, ROLE: 'web' });
    const worker = await startWorker(dataDir);
    try {
      expect(secondWeb.output()).toContain('using the embedded PostgreSQL of another flashcast process');
      expect(worker.output()).toContain('using the embedded PostgreSQL of another flashcast process');
      expect((await fetch(`${secondWeb.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${web.url}/healthz`)).status).toBe(200);
    } finally {
      // Joiners first: the owner's stop takes PostgreSQL with it.
      for (const { child, exited, output } of [worker, secondWeb, web]) {
        process.kill(child.pid!, 'SIGTERM');
        expect(await exited, output()).toBe(0);
      }
    }
    expect(await fs.readdir(dataDir)).not.toContain('postgres.lock');
  }, 120_000);
});

/** `npm run worker`: it serves no URL, so it is ready once it says so. */
function startWorker(dataDir: string): Promise<{ child: ChildProcess; exited: Promise<number | null>; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', DATA_DIR: dataDir, ROLE: 'worker', LOG_LEVEL: 'info' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('flashcast worker started')) resolve({ child, exited, output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`worker exited (${code}) before starting:\n${output}`)));
  });
}

async function password(dataDir: string): Promise<string> {
  return encodeURIComponent((await fs.readFile(path.join(dataDir, 'postgres-password'), 'utf8')).trim());
}

async function lockedPort(dataDir: string): Promise<number> {
  return (JSON.parse(await fs.readFile(path.join(dataDir, 'postgres.lock'), 'utf8')) as { port: number }).port;
}
