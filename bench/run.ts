import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../server/db/embedded-postgres.ts';
import { migrate } from '../server/db/migrate.ts';
import { formatNumber, type BenchModule, type BenchResult, type Goal, type MachineInfo } from './harness.ts';

/**
 * `npm run bench [-- filter...]`: starts one embedded PostgreSQL in a fresh temp folder, runs
 * every `bench/*.bench.ts` whose name or file name contains a filter (all without one), each
 * in a database of its own, and writes `bench/results/<name>.json` and `bench/results/report.md`.
 * The report covers every result file present, so a filtered run updates only its own part.
 * LOG_LEVEL=debug shows PostgreSQL's log.
 */

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const resultsDir = path.join(benchDir, 'results');

interface StoredResult extends Partial<BenchResult> {
  name: string;
  file: string;
  date: string;
  seconds: number;
  machine: MachineInfo;
  error?: string;
}

const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' }, pretty({ sync: true, ignore: 'pid,hostname' }));

async function main(): Promise<number> {
  const filters = process.argv.slice(2).filter((arg) => !arg.startsWith('-'));
  const files = (await fs.readdir(benchDir)).filter((file) => file.endsWith('.bench.ts')).sort();
  const modules: Array<BenchModule & { file: string }> = [];
  for (const file of files) {
    const module = (await import(pathToFileURL(path.join(benchDir, file)).href)) as Partial<BenchModule>;
    if (typeof module.name !== 'string' || typeof module.run !== 'function') {
      throw new Error(`bench/${file} must export \`name\` (a string) and \`run(ctx)\`.`);
    }
    modules.push({ name: module.name, run: module.run, file });
  }
  const selected = modules.filter(
    (module) => filters.length === 0 || filters.some((filter) => module.name.includes(filter) || module.file.includes(filter)),
  );
  if (selected.length === 0) {
    logger.error(`No benchmark matches ${filters.join(', ')}. Available: ${modules.map((m) => m.name).join(', ')}.`);
    return 2;
  }

  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'flashcast-bench-'));
  // mkdtemp makes it 0700; as root PostgreSQL runs as `postgres`, which must enter it.
  await fs.chmod(dataDir, 0o755);
  let database: EmbeddedDatabase | undefined;
  const cleanUp = async (): Promise<void> => {
    await database?.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.warn(`${signal}: stopping PostgreSQL`);
    void cleanUp().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let failures = 0;
  try {
    database = await startEmbeddedPostgres({ dataDir, logger });
    const machine = await machineInfo(database.url);
    logger.info(`${machineLine(machine)}; load average ${machine.loadAverage}`);
    await fs.mkdir(resultsDir, { recursive: true });

    for (const [index, module] of selected.entries()) {
      const started = Date.now();
      const dbName = `bench_${index}_${module.name.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`;
      const databaseUrl = await createDatabase(database.url, dbName);
      // The load average is taken again for each benchmark: other work on the machine skews figures.
      const benchMachine = { ...machine, loadAverage: Number(os.loadavg()[0]!.toFixed(1)) };
      const base = { name: module.name, file: module.file, date: new Date(started).toISOString(), machine: benchMachine };
      let stored: StoredResult;
      try {
        await migrate({ databaseUrl, logger: logger.child({ bench: module.name }) });
        logger.info(`${module.name}: running`);
        const result = await module.run({ databaseUrl, logger: logger.child({ bench: module.name }), machine: benchMachine });
        stored = { ...base, seconds: Math.round((Date.now() - started) / 1000), ...result };
        for (const goal of result.goals) logger.info(`${module.name}: ${goalLine(goal)}`);
      } catch (error) {
        failures += 1;
        logger.error({ err: error }, `${module.name} failed`);
        stored = { ...base, seconds: Math.round((Date.now() - started) / 1000), error: String((error as Error)?.stack ?? error) };
      } finally {
        await dropDatabase(database.url, dbName).catch((error: unknown) => logger.warn({ err: error }, 'could not drop'));
      }
      await fs.writeFile(path.join(resultsDir, `${module.name}.json`), `${JSON.stringify(stored, null, 2)}\n`);
    }
    await writeReport();
    logger.info(`wrote ${path.relative(process.cwd(), path.join(resultsDir, 'report.md'))}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUp();
  }
  return failures > 0 ? 1 : 0;
}

// --- the database -------------------------------------------------------------------------------

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function adminQuery<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: withDatabase(url, 'postgres') });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function createDatabase(url: string, name: string): Promise<string> {
  await adminQuery(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await adminQuery(url, `CREATE DATABASE ${name}`);
  return withDatabase(url, name);
}

async function dropDatabase(url: string, name: string): Promise<void> {
  await adminQuery(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

async function machineInfo(url: string): Promise<MachineInfo> {
  const [row] = await adminQuery<{ version: string; fsync: string; sync: string; buffers: string }>(
    url,
    `SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync,
            current_setting('synchronous_commit') AS sync, current_setting('shared_buffers') AS buffers`,
  );
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: `PostgreSQL ${row?.version} (embedded; fsync ${row?.fsync}, synchronous_commit ${row?.sync}, shared_buffers ${row?.buffers})`,
    date: new Date().toISOString(),
    loadAverage: Number(os.loadavg()[0]!.toFixed(1)),
  };
}

// --- the report ---------------------------------------------------------------------------------

/** The hardware and software, without the moment (date, load), which each section gives. */
function machineLine(machine: MachineInfo): string {
  return `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; ${machine.os}; Node ${machine.node}; ${machine.postgres}`;
}

function goalLine(goal: Goal): string {
  return `${goal.name}: ${formatNumber(goal.measured)} ${goal.unit} (target ${goal.target}) ${goal.pass ? 'PASS' : 'FAIL'}`;
}

function cell(value: string | number): string {
  return (typeof value === 'number' ? formatNumber(value) : value).replaceAll('|', '\\|').replaceAll('\n', ' ');
}

function markdownTable(columns: string[], rows: Array<Array<string | number>>): string {
  return [
    `| ${columns.map(cell).join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(cell).join(' | ')} |`),
  ].join('\n');
}

function baselineCell(goal: Goal): string {
  if (!goal.baseline) return '–';
  const ratio =
    goal.ratio === undefined ? '' : goal.ratio < 1 ? ` (ratio ${Math.round(goal.ratio * 100)}%)` : ` (ratio ${goal.ratio.toFixed(2)}×)`;
  return `${goal.baseline.name}: ${formatNumber(goal.baseline.value)} ${goal.unit}${ratio}`;
}

async function writeReport(): Promise<void> {
  const files = (await fs.readdir(resultsDir)).filter((file) => file.endsWith('.json')).sort();
  const results: StoredResult[] = [];
  for (const file of files) results.push(JSON.parse(await fs.readFile(path.join(resultsDir, file), 'utf8')) as StoredResult);

  const lines: string[] = ['# Benchmark report', '', 'Written by `npm run bench`; each section names the run it comes from.', ''];
  const goalRows = results.flatMap((result) =>
    result.error
      ? [[result.name, 'benchmark failed', '–', '–', '–', 'ERROR']]
      : (result.goals ?? []).map((goal) => [
          result.name,
          goal.name,
          `${formatNumber(goal.measured)} ${goal.unit}`,
          baselineCell(goal),
          goal.target,
          goal.pass ? 'pass' : '**FAIL**',
        ]),
  );
  lines.push('## Goals', '', markdownTable(['benchmark', 'goal', 'measured', 'baseline (same run)', 'target', 'result'], goalRows), '');
  const machines = [...new Set(results.map((result) => machineLine(result.machine)))];
  lines.push(`Machine${machines.length > 1 ? 's' : ''}:`, '', ...machines.map((machine) => `- ${machine}`), '');

  for (const result of results) {
    lines.push(
      `## ${result.name}`,
      '',
      `\`bench/${result.file}\`, run ${result.date.slice(0, 16).replace('T', ' ')} UTC, ${result.seconds} s; ` +
        `load average ${result.machine.loadAverage} on ${result.machine.cores} cores when it started.`,
      '',
    );
    if (result.error) lines.push('```', result.error, '```', '');
    for (const table of result.tables ?? []) lines.push(`**${table.title}**`, '', markdownTable(table.columns, table.rows), '');
    for (const note of result.notes ?? []) lines.push(`- ${note}`);
    if (result.notes?.length) lines.push('');
  }
  await fs.writeFile(path.join(resultsDir, 'report.md'), lines.join('\n'));
}

process.exitCode = await main().catch((error: unknown) => {
  logger.fatal({ err: error }, 'bench run failed');
  return 1;
});
