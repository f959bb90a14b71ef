import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../server/db/embedded-postgres.ts';
import { createTestDatabase } from '../support/database.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const logger = pino({ level: 'silent' });
const IN_USE = /^PostgreSQL data directory .+\/pg is already in use by .+\(pid \d+\).*DATA_DIR/;

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

  async function start(dataDir: string): Promise<EmbeddedDatabase> {
    const server = await startEmbeddedPostgres({ dataDir, logger, ephemeral: true });
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

  it('when a second instance starts on a running DATA_DIR, then it rejects with a message naming DATA_DIR', async () => {
    const dataDir = await freshDataDir();
    const running = await start(dataDir);

    await expect(start(dataDir)).rejects.toThrow(IN_USE);
    expect(await query(running.url, 'select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('when another flashcast process runs PostgreSQL on DATA_DIR, then a start rejects naming that process', async () => {
    const dataDir = await freshDataDir();
    const other = await startInOtherProcess(dataDir);

    await expect(start(dataDir)).rejects.toThrow(
      `PostgreSQL data directory ${path.join(dataDir, 'pg')} is already in use by another flashcast process (pid ${other.pid}). ` +
        'Stop it or set DATA_DIR to another folder.',
    );
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

async function password(dataDir: string): Promise<string> {
  return encodeURIComponent((await fs.readFile(path.join(dataDir, 'postgres-password'), 'utf8')).trim());
}

async function lockedPort(dataDir: string): Promise<number> {
  return (JSON.parse(await fs.readFile(path.join(dataDir, 'postgres.lock'), 'utf8')) as { port: number }).port;
}
