import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { opsHeaders } from '../support/http.ts';
import { startProcess, type StartedProcess } from '../support/process.ts';
import { parsePrometheusText, sampleValue } from '../support/prometheus.ts';

/**
 * The production deploy of the README, as an operator does it: `npm run build` once, then a
 * folder with package.json, package-lock.json, dist/ and migrations/ only, production
 * dependencies only (`npm ci --omit=dev`; the optional MongoDB packages left out too), and
 * `node dist/server/main.js` for the web process and the worker, on an external PostgreSQL.
 *
 * The build runs in a copy of the source tree (node_modules linked), never in this tree,
 * whose dist/ the other test files are serving from meanwhile.
 */
const rootDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCES = [
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'vite.config.ts',
  'server',
  'jobs',
  'protocol',
  'common',
  'client',
  'migrations',
];
const DEPLOYED = ['package.json', 'package-lock.json', 'dist', 'migrations'];
const OPS_TOKEN = 'production-test-ops-token-0123';

let workDir: string;
let deployDir: string;
let database: TestDatabase;
const started: StartedProcess[] = [];

function run(command: string, args: string[], cwd: string): Promise<void> {
  const child = spawn(command, args, { cwd, env: { ...process.env, NODE_ENV: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${code}):\n${output}`)))),
  );
}

function startDeployed(env: Record<string, string>, ready?: RegExp): Promise<StartedProcess> {
  const launched = startProcess(
    {
      NODE_ENV: 'production',
      DATABASE_URL: database.url,
      OPS_TOKEN,
      SESSION_SECRET: 'production-test-session-secret-0123',
      DATA_DIR: path.join(workDir, 'data'),
      METRICS_PORT: '0',
      ...env,
    },
    'dist/server/main.js',
    ready,
    { cwd: deployDir, compiled: true },
  );
  return launched.then((process) => {
    started.push(process);
    return process;
  });
}

const metricsUrlOf = (process: StartedProcess) => /"metricsUrl":"(http:\/\/[^"]+)"/.exec(process.output())![1]!;

beforeAll(async () => {
  workDir = await mkdtemp(path.join(os.tmpdir(), 'flashcast-production-'));
  const sourceDir = path.join(workDir, 'source');
  deployDir = path.join(workDir, 'deploy');
  for (const entry of SOURCES) await cp(path.join(rootDir, entry), path.join(sourceDir, entry), { recursive: true });
  await symlink(path.join(rootDir, 'node_modules'), path.join(sourceDir, 'node_modules'), 'dir');
  await run('npm', ['run', 'build'], sourceDir);
  for (const entry of DEPLOYED) await cp(path.join(sourceDir, entry), path.join(deployDir, entry), { recursive: true });
  await run('npm', ['ci', '--omit=dev', '--omit=optional', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], deployDir);
  database = await createTestDatabase();
}, 300_000);

afterAll(async () => {
  for (const process of started) {
    if (process.child.exitCode === null && process.child.signalCode === null) {
      process.child.kill('SIGKILL');
      await process.exited;
    }
  }
  await database?.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('when the build is deployed with production dependencies only', () => {
  it('then no dev or optional dependency is installed', () => {
    for (const name of ['tsx', 'typescript', 'vite', 'vitest', 'socket.io-client', 'pino-pretty', 'mongodb', '@agendajs/mongo-backend']) {
      expect(existsSync(path.join(deployDir, 'node_modules', name)), name).toBe(false);
    }
    expect(existsSync(path.join(deployDir, 'dist/server/main.js'))).toBe(true);
    expect(existsSync(path.join(deployDir, 'dist/browser/.vite/manifest.json'))).toBe(true);
  });

  it('then node dist/server/main.js serves web and worker, /readyz says 200, both are scraped, and requests are logged without credentials', async () => {
    const web = await startDeployed({ ROLE: 'web' });
    const worker = await startDeployed({ ROLE: 'worker' }, /"metricsUrl":"(http:\/\/[^"]+)"/);

    expect((await fetch(`${web.url}/readyz`)).status).toBe(200);
    const console = await fetch(`${web.url}/ops`);
    expect(console.status).toBe(200);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(await console.text())![1]!;
    expect((await fetch(`${web.url}${script}`)).status).toBe(200);

    // The worker runs a job the web process enqueues; its METRICS_PORT counts the run.
    const run = await fetch(`${web.url}/ops/api/jobs/session-cleanup/run`, {
      method: 'POST',
      headers: { ...opsHeaders(OPS_TOKEN), 'content-type': 'application/json', cookie: 'flashcast.sid=secret-cookie-value' },
      body: '{}',
    });
    expect(run.status).toBe(200);
    const requestId = run.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    for (const url of [worker.url, metricsUrlOf(web)]) {
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
    }
    const scraped = await fetch(`${worker.url}/metrics`);
    expect(scraped.status).toBe(200);
    const { samples } = parsePrometheusText(await scraped.text());
    expect(sampleValue(samples, 'flashcast_job_runs_total', { job: 'session-cleanup', result: 'success' })).toBe(1);
    expect(parsePrometheusText(await (await fetch(`${metricsUrlOf(web)}/metrics`)).text()).samples.length).toBeGreaterThan(20);

    const line = web
      .output()
      .split('\n')
      .find((text) => text.includes(requestId!));
    expect(line).toBeDefined();
    expect(JSON.parse(line!)).toMatchObject({ reqId: requestId, route: '/ops/api/jobs/:name/run', res: { statusCode: 200 } });
    expect(line).toContain('"responseTime"');
    expect(web.output()).not.toContain(OPS_TOKEN);
    expect(web.output()).not.toContain('secret-cookie-value');

    for (const process of [worker, web]) {
      process.child.kill('SIGTERM');
      expect(await process.exited, process.output()).toBe(0);
    }
  }, 60_000);

  it('then /readyz answers 503 while it drains, and a second SIGTERM exits at once', async () => {
    const web = await startDeployed({ ROLE: 'web' });
    const probes = metricsUrlOf(web);
    expect((await fetch(`${probes}/readyz`)).status).toBe(200);
    // No worker runs: this request waits for its job, and the HTTP server's close waits for
    // the request (5 s at most), which keeps the process draining.
    const waiting = fetch(`${web.url}/ops/api/jobs/session-cleanup/run`, {
      method: 'POST',
      headers: { ...opsHeaders(OPS_TOKEN), 'content-type': 'application/json' },
      body: '{}',
    }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));

    web.child.kill('SIGTERM');
    let status = 0;
    for (const began = Date.now(); status !== 503 && Date.now() - began < 4000; ) {
      status = (await fetch(`${probes}/readyz`)).status;
    }
    expect(status, web.output()).toBe(503);
    expect(web.child.exitCode).toBeNull();

    const signalled = Date.now();
    web.child.kill('SIGTERM');
    expect(await web.exited, web.output()).toBe(143);
    expect(Date.now() - signalled).toBeLessThan(2000);
    expect(web.output()).toContain('second SIGTERM: exiting at once');
    await waiting;
  }, 60_000);
});
