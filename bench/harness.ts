import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Pool } from '../server/db/pool.ts';

/**
 * The contract between bench/run.ts and the benchmark modules. A benchmark is a file
 * `bench/<name>.bench.ts` exporting `name` and `run(ctx)`. run.ts gives it a database of its
 * own and writes what it returns to `bench/results/<name>.json` and `bench/results/report.md`.
 *
 * Results are committed, so keep them small: a few goals, a table or two, a few notes.
 */

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  /** `SHOW server_version` of the run's PostgreSQL, with its durability settings. */
  postgres: string;
  /** ISO date and time the run (PostgreSQL) started. */
  date: string;
  /** 1-minute load average when this benchmark started: other work on the machine skews figures. */
  loadAverage: number;
}

export interface BenchContext {
  /** postgres:// URL of a database created for this benchmark alone, migrated; dropped afterwards. */
  databaseUrl: string;
  logger: Logger;
  machine: MachineInfo;
}

/** One target a benchmark checks. Build it with `atLeast`, `below`, `equals` or `relative`. */
export interface Goal {
  /** What is measured, e.g. "GET / req/s, our store". */
  name: string;
  measured: number;
  unit: string;
  /** The figure the goal compares against, measured in the same run (relative goals). */
  baseline?: { name: string; value: number };
  /** measured / baseline, for relative goals. */
  ratio?: number;
  /** The target, readable, e.g. "≥ 60% of MemoryStore". */
  target: string;
  pass: boolean;
}

export interface Table {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
}

export interface BenchResult {
  goals: Goal[];
  tables?: Table[];
  /** Short sentences for the report: setup, caveats, diagnosis. */
  notes?: string[];
}

export interface BenchModule {
  /** Names the result files; a filter argument to `npm run bench` matches it or the file name. */
  name: string;
  run(ctx: BenchContext): Promise<BenchResult>;
}

// --- goals ------------------------------------------------------------------------------------

/** An optional `baseline` is shown beside the figure (e.g. the same reader without load). */
export function atLeast(name: string, measured: number, min: number, unit: string, baseline?: Goal['baseline']): Goal {
  return { name, measured, unit, ...(baseline && { baseline }), target: `≥ ${formatNumber(min)} ${unit}`, pass: measured >= min };
}

export function below(name: string, measured: number, max: number, unit: string, baseline?: Goal['baseline']): Goal {
  return { name, measured, unit, ...(baseline && { baseline }), target: `< ${formatNumber(max)} ${unit}`, pass: measured < max };
}

export function equals(name: string, measured: number, expected: number, unit: string, baseline?: Goal['baseline']): Goal {
  return {
    name,
    measured,
    unit,
    ...(baseline && { baseline }),
    target: `= ${formatNumber(expected)} ${unit}`,
    pass: measured === expected,
  };
}

/** `measured ≥ minRatio × baseline`; a ratio under 1 reads as a percentage, over 1 as "×". */
export function relative(name: string, measured: number, baseline: { name: string; value: number }, minRatio: number, unit: string): Goal {
  const share = minRatio < 1 ? `${Math.round(minRatio * 100)}% of` : `${minRatio}×`;
  return {
    name,
    measured,
    unit,
    baseline,
    ratio: Number((measured / baseline.value).toFixed(3)),
    target: `≥ ${share} ${baseline.name}`,
    pass: measured >= minRatio * baseline.value,
  };
}

// --- measuring --------------------------------------------------------------------------------

/** The p-th percentile (0–100) by nearest rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** Milliseconds `fn` took, with its value. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, value };
}

/** This process's CPU time (user + system), in ms. */
export function ownCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** CPU ticks (user + system) each live process has used so far. Linux only: empty elsewhere. */
function cpuTicks(pids: readonly number[]): Map<number, number> {
  const ticks = new Map<number, number>();
  if (process.platform !== 'linux') return ticks;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after "(comm)" start at field 3 (state); utime and stime are fields 14 and 15.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    } catch {
      // exited
    }
  }
  return ticks;
}

/**
 * Starts measuring the CPU time of the PostgreSQL server `pool` reaches: its backends and
 * background processes as pg_stat_activity lists them (other clusters on the machine are not
 * counted). `stop()` answers the ms they used since; a backend that exited meanwhile takes its
 * share with it, so keep the pools under test open. NaN where /proc is missing.
 */
export async function measurePostgresCpu(pool: Pool): Promise<{ stop(): Promise<number> }> {
  const pids = async () => (await pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity')).rows.map((row) => row.pid);
  const before = cpuTicks(await pids());
  return {
    async stop() {
      if (process.platform !== 'linux') return Number.NaN;
      let ticks = 0;
      for (const [pid, now] of cpuTicks(await pids())) ticks += now - (before.get(pid) ?? 0);
      return ticks * 10; // USER_HZ is 100 on Linux
    },
  };
}

export interface StatementCounter {
  /** Statements sent through the pool since the last reset. */
  readonly total: number;
  /** Of those, INSERT, UPDATE, DELETE and MERGE (including ones inside a WITH). */
  readonly writes: number;
  reset(): void;
  /** Puts the pool's own `query` back. */
  restore(): void;
}

const WRITE = /\b(insert\s+into|update\s+\S+\s+set|delete\s+from|merge\s+into)\b/i;

/** Counts the statements a pool is asked to run (`pool.query` only; not checked-out clients). */
export function countStatements(pool: Pool): StatementCounter {
  let total = 0;
  let writes = 0;
  const original = pool.query;
  pool.query = function (this: Pool, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '');
    total += 1;
    if (WRITE.test(text)) writes += 1;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as Pool['query'];
  return {
    get total() {
      return total;
    },
    get writes() {
      return writes;
    },
    reset() {
      total = 0;
      writes = 0;
    },
    restore() {
      pool.query = original;
    },
  };
}

// --- formatting -------------------------------------------------------------------------------

/** Thousands separators; three significant digits below 100. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100 || Number.isInteger(value)) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(3)).toLocaleString('en-US', { maximumFractionDigits: 3 });
}

/**
 * sessionKey(id) (server/sessions/session-key.ts) in SQL: SHA-256, base64url without padding.
 * Seeding benchmarks use it to create many sessions in one set-based INSERT.
 */
export const sessionKeySql = (idSql: string): string =>
  `rtrim(translate(encode(sha256(convert_to(${idSql}, 'UTF8')), 'base64'), '+/', '-_'), '=')`;
