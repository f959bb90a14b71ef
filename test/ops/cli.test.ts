import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobRoutes } from '../../jobs/job-routes.ts';
import type { JobInfo, Jobs } from '../../jobs/jobs.ts';
import { buildCli } from '../../server/cli/ops-cli.ts';
import { outputMode } from '../../server/cli/output.ts';
import { conflict, notFound } from '../../server/errors.ts';
import { createMaintenanceRoutes } from '../../server/maintenance/maintenance-routes.ts';
import { createPromotionRoutes } from '../../server/promotions/promotion-routes.ts';
import { createPromotions } from '../../server/promotions/promotions.ts';
import { createPresenceRoutes } from '../../server/realtime/presence-routes.ts';
import { startTestApp, TEST_OPS_TOKEN, type TestApp } from '../support/app.ts';
import { Visitor } from '../support/http.ts';

// Every CLI call is its own process with the TypeScript loader: seconds each on a busy machine.
const rootDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Jobs and maintenance answer from stubs shaped like the real ones (their own tests run the real
 * things): what is under test here is the CLI, its output and its exit codes. Presence,
 * flashes, promotions, operators and the audit trail are the real routes on a real database.
 */
const jobInfo = (name: string, every: string | null): JobInfo => ({
  name,
  operable: true,
  every,
  nextRunAt: every ? '2030-01-01T00:01:00.000Z' : null,
  lastRunAt: '2030-01-01T00:00:00.000Z',
  lastFinishedAt: '2030-01-01T00:00:01.250Z',
  failReason: null,
  running: false,
  lastResult: { delivered: 3 },
  lastResultAt: '2030-01-01T00:00:01.250Z',
});
const knownJob = (name: string) => {
  if (name !== 'promotion-round' && name !== 'session-cleanup') throw notFound(`The job "${name}"`);
};
const jobs = {
  list: async () => [jobInfo('promotion-round', '1 minute'), jobInfo('session-cleanup', '10 minutes')],
  runNow: async (name: string) => {
    knownJob(name);
    return { name, jobId: 'job-1', result: { delivered: 3 } };
  },
  schedule: async (name: string, every: string) => {
    knownJob(name);
    return jobInfo(name, every);
  },
  unschedule: async (name: string) => {
    knownJob(name);
    return jobInfo(name, null);
  },
} as unknown as Jobs;

let maintenanceState: 'idle' | 'countdown' = 'idle';
const maintenanceStatus = () =>
  maintenanceState === 'idle' ? { state: 'idle' } : { state: 'countdown', deadline: new Date(Date.now() + 600_000).toISOString() };
const maintenance = {
  status: async () => maintenanceStatus() as never,
  start: async () => {
    if (maintenanceState !== 'idle') throw conflict('A countdown is already running; cancel it first (maintenance end).');
    maintenanceState = 'countdown';
    return maintenanceStatus() as never;
  },
  cancel: async () => {
    const previous = maintenanceState;
    maintenanceState = 'idle';
    return { previous, status: maintenanceStatus() } as never;
  },
};

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({
    extend: (deps) => ({
      opsApi: [
        createPresenceRoutes({ pool: deps.pool }),
        createPromotionRoutes({ promotions: createPromotions({ pool: deps.pool }) }),
        createJobRoutes({ jobs }),
        createMaintenanceRoutes(maintenance),
      ],
    }),
  });
});
afterAll(() => t.close());

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a person or a script runs it: its own process, stdout and stderr apart. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/cli/ops-cli.ts', ...args], {
    cwd: rootDir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', DATA_DIR: '/nonexistent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

const ops = (args: string[], token = TEST_OPS_TOKEN) => cli(args, { FLASHCAST_URL: t.url, OPS_TOKEN: token });
/** The same command twice: as a table, and as JSON (parsed; its shape is what the assertions check). */
// biome-ignore lint/suspicious/noExplicitAny: the answers' shapes are asserted field by field below
async function both(args: string[], token?: string): Promise<{ table: string; json: any }> {
  const [table, json] = await Promise.all([ops(['--table', ...args], token), ops([...args, '--json'], token)]);
  expect(table.code, `${args.join(' ')} --table: ${table.stderr}`).toBe(0);
  expect(json.code, `${args.join(' ')} --json: ${json.stderr}`).toBe(0);
  expect(table.stdout.trimStart().startsWith('{'), table.stdout).toBe(false);
  return { table: table.stdout, json: JSON.parse(json.stdout) };
}
const expectDone = (run: Run) => expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);

describe('when someone asks the CLI for help', { timeout: 120_000 }, () => {
  it('then --help says how to reach the server, how output is chosen, and every exit code', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const text of ['FLASHCAST_URL', 'http://HOST:PORT', 'OPS_TOKEN', 'DATA_DIR', '--json', '--table', 'not a terminal']) {
      expect(help.stdout).toContain(text);
    }
    for (const line of [
      /0\s+ok/,
      /1\s+anything else/,
      /2\s+usage/,
      /3\s+auth/,
      /4\s+unreachable/,
      /5\s+not found/,
      /6\s+conflict/,
      /7\s+nothing reached/,
    ]) {
      expect(help.stdout).toMatch(line);
    }
  });

  it('then output is a table on a terminal and JSON in a pipe, unless --json or --table says otherwise', () => {
    expect(outputMode({}, true)).toBe('table');
    expect(outputMode({}, false)).toBe('json');
    expect(outputMode({ json: true }, true)).toBe('json');
    expect(outputMode({ table: true }, false)).toBe('table');
  });

  it('then every command and subcommand has a description, and its help names the server settings', async () => {
    const undescribed: string[] = [];
    const walk = (command: Command, prefix: string) => {
      for (const sub of command.commands) {
        const name = `${prefix}${sub.name()}`;
        if (sub.name() !== 'help' && sub.description().trim() === '') undescribed.push(name);
        walk(sub, `${name} `);
      }
    };
    walk(
      buildCli(async () => Promise.reject(new Error('no server in this test'))),
      '',
    );
    expect(undescribed).toEqual([]);

    const helps = await Promise.all(
      [
        ['promotions', '--help'],
        ['promotions', 'create', '--help'],
        ['maintenance', 'start', '--help'],
        ['audit', '--help'],
      ].map((args) => cli(args)),
    );
    for (const help of helps) {
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('FLASHCAST_URL and OPS_TOKEN');
      expect(help.stdout).toContain('--json');
    }
  });
});

describe('when ops use the CLI against a running flashcast', { timeout: 120_000 }, () => {
  it('then presence, stats and flash print tables for a person and JSON for a script', async () => {
    const visitor = new Visitor(t.url);
    await visitor.request('/');

    const presence = await both(['presence']);
    expect(presence.json).toEqual({ activeSessions: expect.any(Number), sockets: 0 });
    expect(presence.table).toMatch(/^activeSessions\s+\d+\nsockets\s+0\n$/);

    const stats = await both(['stats']);
    expect(stats.json).toMatchObject({ total: 1, expired: 0 });
    expect(stats.table).toMatch(/^total\s+1$/m);

    const flash = await ops(['flash', 'Hello from the CLI', '--to', 'all', '--key', 'notice']);
    expectDone(flash);
    expect(JSON.parse(flash.stdout)).toMatchObject({ sessions: 1, flash: { key: 'notice', message: 'Hello from the CLI' } });
    const shown = await ops(['--table', 'flash', 'Hello again', '--to', 'all']);
    expectDone(shown);
    expect(shown.stdout).toMatch(/^sessions\s+1$/m);
    expect(shown.stdout).toMatch(/^flash\.message\s+Hello again$/m);
  });

  it('then a flash that reached nobody still prints its answer, warns on stderr and exits 7', async () => {
    const nobody = await ops(['flash', 'Anyone?', '--session', 'abc']);
    expect(nobody.code).toBe(7);
    expect(JSON.parse(nobody.stdout)).toMatchObject({ sessions: 0 });
    expect(nobody.stderr).toContain('ops: warning: the flash reached no session');
  });

  it('then promotions are created, listed, shown, switched, counted and deleted, in both outputs', async () => {
    const created = await both(['promotions', 'create', '--name', 'spring', '--cta', 'Spring sale: 20% off', '--weight', '2']);
    expect(created.json).toMatchObject({ name: 'spring', callToAction: 'Spring sale: 20% off', active: true, weight: 2 });
    expect(created.table).toMatch(/^callToAction\s+Spring sale: 20% off$/m);
    const id = String(created.json.id);

    const list = await both(['promotions', 'list']);
    expect(list.json.promotions.map((p: { name: string }) => p.name)).toEqual(['spring', 'spring']);
    const [heading, ...rows] = list.table.trimEnd().split('\n');
    expect(heading).toMatch(/^ID\s+NAME\s+ACTIVE\s+WEIGHT\s+STARTS\s+ENDS\s+CALL TO ACTION$/);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/spring\s+yes\s+2\s+-\s+-\s+Spring sale: 20% off$/);

    const show = await both(['promotions', 'show', id]);
    expect(show.json).toMatchObject({ id: Number(id), name: 'spring' });
    expect(show.table).toMatch(new RegExp(`^id\\s+${id}$`, 'm'));

    const stats = await both(['promotions', 'stats', id]);
    expect(stats.json).toEqual({ delivered: 0, displayed: 0, clicked: 0, dismissed: 0 });
    expect(stats.table).toMatch(/^delivered\s+0$/m);

    const off = await ops(['--table', 'promotions', 'deactivate', id]);
    expectDone(off);
    expect(off.stdout).toMatch(/^active\s+no$/m);
    const on = await ops(['promotions', 'activate', id, '--json']);
    expectDone(on);
    expect(JSON.parse(on.stdout)).toMatchObject({ active: true });

    const deleted = await ops(['--table', 'promotions', 'delete', id]);
    expectDone(deleted);
    expect(deleted.stdout).toMatch(new RegExp(`^deleted\\s+${id}$`, 'm'));
    const gone = await ops([
      'promotions',
      'delete',
      String(list.json.promotions.find((p: { id: number }) => String(p.id) !== id).id),
      '--json',
    ]);
    expectDone(gone);

    const empty = await ops(['--table', 'promotions', 'list']);
    expect(empty.stdout).toBe('no promotions\n');
  });

  it('then jobs are listed, run, scheduled and unscheduled, in both outputs', async () => {
    const list = await both(['jobs', 'list']);
    expect(list.json.jobs.map((job: JobInfo) => job.name)).toEqual(['promotion-round', 'session-cleanup']);
    expect(list.table).toMatch(/^NAME\s+EVERY\s+RUNNING\s+NEXT RUN\s+LAST FINISHED\s+LAST FAILURE\s+LAST RESULT$/m);
    expect(list.table).toMatch(/^promotion-round\s+1 minute\s+no\s+2030-01-01 00:01:00Z\s+2030-01-01 00:00:01Z\s+-\s+\{"delivered":3\}$/m);

    const run = await both(['jobs', 'run', 'promotion-round']);
    expect(run.json).toEqual({ name: 'promotion-round', jobId: 'job-1', result: { delivered: 3 } });
    expect(run.table).toMatch(/^result\.delivered\s+3$/m);

    const scheduled = await both(['jobs', 'schedule', 'session-cleanup', '5 minutes']);
    expect(scheduled.json).toMatchObject({ name: 'session-cleanup', every: '5 minutes' });
    expect(scheduled.table).toMatch(/^every\s+5 minutes$/m);

    const unscheduled = await both(['jobs', 'unschedule', 'session-cleanup']);
    expect(unscheduled.json).toMatchObject({ every: null });
    expect(unscheduled.table).toMatch(/^every\s+-$/m);
  });

  it('then maintenance shows its state, starts, refuses a second start with exit 6, and ends', async () => {
    const idle = await both(['maintenance', 'status']);
    expect(idle.json).toEqual({ state: 'idle' });
    expect(idle.table).toBe('state  idle\n');

    const started = await ops(['--table', 'maintenance', 'start', '--seconds', '600']);
    expectDone(started);
    expect(started.stdout).toMatch(/^state\s+countdown\ndeadline\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\n$/);

    const again = await ops(['maintenance', 'start', '--json']);
    expect(again.code).toBe(6);
    expect(again.stderr).toContain('ops: CONFLICT: A countdown is already running');
    expect(again.stdout).toBe('');

    const status = await ops(['maintenance', 'status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'countdown' });
    const ended = await both(['maintenance', 'end']);
    expect(ended.json).toMatchObject({ state: 'idle' });
    expect(ended.table).toMatch(/^state\s+idle$/m);
  });
});

describe('when the CLI cannot do what it was asked', { timeout: 120_000 }, () => {
  it('then a usage error exits 2: unknown command or option, a missing or bad argument, input the server refused', async () => {
    const runs = await Promise.all([
      ops(['nosuch']),
      ops(['stats', '--nosuch']),
      ops(['promotions', 'show']),
      ops(['promotions']),
      ops(['maintenance', 'start', '--seconds', '0']),
      ops(['--json', '--table', 'stats']),
      ops(['flash', 'x', '--key', 'has space']),
      cli(['stats'], { FLASHCAST_URL: 'not a url', OPS_TOKEN: TEST_OPS_TOKEN }),
    ]);
    for (const run of runs) expect(run.code, run.stderr).toBe(2);
    expect(runs[0]!.stderr).toContain("unknown command 'nosuch'");
    expect(runs[2]!.stderr).toContain("missing required argument 'id'");
    expect(runs[4]!.stderr).toContain('must be a whole number from 1 up');
    expect(runs[6]!.stderr).toContain('VALIDATION_FAILED');
    expect(runs[7]!.stderr).toContain('FLASHCAST_URL');
  });

  it('then a refused token exits 3, an unreachable server 4, and something missing 5', async () => {
    const [refused, away, noPromotion, noJob] = await Promise.all([
      ops(['stats'], 'wrong-token-0123456789'),
      cli(['stats'], { FLASHCAST_URL: 'http://127.0.0.1:9', OPS_TOKEN: TEST_OPS_TOKEN }),
      ops(['promotions', 'show', '999999']),
      ops(['jobs', 'run', 'no-such-job']),
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('UNAUTHORIZED');
    expect(refused.stderr).toContain('check OPS_TOKEN');
    expect(away.code).toBe(4);
    expect(away.stderr).toContain('Could not reach flashcast at http://127.0.0.1:9');
    expect(away.stderr).toContain('set FLASHCAST_URL');
    expect(noPromotion.code).toBe(5);
    expect(noPromotion.stderr).toContain('NOT_FOUND');
    expect(noJob.code).toBe(5);
  });
});

describe('when the administrator manages operators from the CLI', { timeout: 120_000 }, () => {
  it('then create prints a token once, list shows roles without tokens, revoke ends the token, and audit shows who did what', async () => {
    const created = await ops(['operators', 'create', 'carol', '--role', 'operator']);
    expectDone(created);
    expect(created.stderr).toContain('stores only its hash');
    const token = JSON.parse(created.stdout).token as string;
    expect(token).toMatch(/^fcop_/);
    const shownOnce = await ops(['--table', 'operators', 'create', 'dave']);
    expectDone(shownOnce);
    expect(shownOnce.stdout).toMatch(/^token\s+fcop_\S+$/m);

    const list = await both(['operators', 'list']);
    expect(list.json.operators).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'carol', role: 'operator', createdBy: 'admin', revokedAt: null })]),
    );
    expect(list.table).toMatch(/^NAME\s+ROLE\s+CREATED BY\s+CREATED\s+REVOKED$/m);
    expect(list.table).toMatch(/^carol\s+operator\s+admin\s+\S+ \S+Z\s+-$/m);
    expect(`${list.table}${JSON.stringify(list.json)}`).not.toContain(token);

    // Carol works with her own token; an operator cannot manage operators.
    const flash = await ops(['flash', 'From carol', '--to', 'all'], token);
    expectDone(flash);
    const notAdmin = await ops(['operators', 'list'], token);
    expect(notAdmin.code).toBe(3);
    expect(notAdmin.stderr).toContain('FORBIDDEN');

    const audit = await both(['audit', '--actor', 'carol', '--limit', '5']);
    expect(audit.json.entries[0]).toMatchObject({
      actor: 'carol',
      role: 'operator',
      action: 'flash.push',
      target: 'all',
      result: 'ok',
      params: { message: 'From carol' },
    });
    expect(audit.table).toMatch(/^ID\s+AT\s+ACTOR\s+ACTION\s+TARGET\s+RESULT\s+PARAMS$/m);
    expect(audit.table).toMatch(/^\d+\s+\S+ \S+Z\s+carol\s+flash\.push\s+all\s+ok\s+\{.*"message":"From carol"/m);

    const revoked = await ops(['--table', 'operators', 'revoke', 'dave']);
    expectDone(revoked);
    expect(revoked.stdout).toMatch(/^revokedAt\s+\S+ \S+Z$/m);
    const revokedCarol = await ops(['operators', 'revoke', 'carol', '--json']);
    expectDone(revokedCarol);
    expect(JSON.parse(revokedCarol.stdout)).toMatchObject({ name: 'carol', revokedAt: expect.any(String) });
    const after = await ops(['stats'], token);
    expect(after.code).toBe(3);
    expect(after.stderr).toContain('UNAUTHORIZED');
    const noOperator = await ops(['operators', 'revoke', 'nobody']);
    expect(noOperator.code).toBe(5);

    const trail = await ops(['audit', '--action', 'operator.', '--result', 'ok', '--limit', '10']);
    expect(JSON.parse(trail.stdout).entries.map((e: { action: string; target: string }) => `${e.action} ${e.target}`)).toEqual([
      'operator.revoke carol',
      'operator.revoke dave',
      'operator.create dave',
      'operator.create carol',
    ]);
    const page = await ops(['--table', 'audit', '--action', 'operator.', '--result', 'ok', '--limit', '1']);
    expect(page.stdout).toMatch(/^next\s+\d+$/m);
    const refusals = await ops(['audit', '--actor', 'anonymous', '--result', 'refused']);
    expect(JSON.parse(refusals.stdout).entries.length).toBeGreaterThanOrEqual(2);
    const none = await ops(['--table', 'audit', '--actor', 'nobody-at-all']);
    expect(none.stdout).toBe('no entries\n');
  });
});
