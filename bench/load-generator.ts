import { fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';

/**
 * autocannon in a process of its own, so the load generator's JavaScript does not share an
 * event loop with the server it measures (it still shares the machine's cores). Started with
 * `fork()` by `runLoad` below: receives a LoadConfig, answers a LoadResult, exits.
 * Each request carries the next cookie of the list in turn, so the load spreads over many
 * sessions rather than one hot row.
 */

export interface LoadConfig {
  /** Base URL of the server, e.g. http://127.0.0.1:PORT. */
  url: string;
  /** GET this path; `/` when unset. */
  path?: string;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  /** `Cookie` header values, used in turn. */
  cookies: string[];
}

export interface LoadResult {
  requestsPerSecond: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Requests of the measured phase. */
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** The load generator's own CPU time during the measured phase. */
  cpuMs: number;
}

type ChildMessage = { warm: true } | { result: LoadResult } | { error: string };

async function generate(config: LoadConfig): Promise<LoadResult> {
  let next = 0;
  const options = {
    url: config.url,
    connections: config.connections,
    requests: [
      {
        method: 'GET' as const,
        path: config.path ?? '/',
        setupRequest: (request: autocannon.Request) => {
          const cookie = config.cookies[next++ % config.cookies.length]!;
          return { ...request, headers: { ...request.headers, cookie } };
        },
      },
    ],
  };
  const warmup = await autocannon({ ...options, duration: config.warmupSeconds });
  // The parent resets its counters now; the measured phase starts when it answers.
  await new Promise<void>((resolve) => {
    process.once('message', () => resolve());
    process.send!({ warm: true } satisfies ChildMessage);
  });
  const cpuBefore = process.cpuUsage();
  const result = await autocannon({ ...options, duration: config.durationSeconds });
  const cpu = process.cpuUsage(cpuBefore);
  return {
    requestsPerSecond: result.requests.average,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx + warmup.non2xx,
    errors: result.errors + warmup.errors,
    timeouts: result.timeouts + warmup.timeouts,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/**
 * Runs the load in a child process and resolves with its figures. `onMeasureStart` runs
 * between the warm-up and the measured phase (reset counters there).
 */
export function runLoad(config: LoadConfig, onMeasureStart: () => unknown = () => undefined): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    let answered = false;
    child.on('message', (message: ChildMessage) => {
      if ('warm' in message) {
        Promise.resolve(onMeasureStart()).then(() => child.send('go'), reject);
        return;
      }
      answered = true;
      if ('result' in message) resolve(message.result);
      else reject(new Error(`load generator failed: ${message.error}`));
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!answered) reject(new Error(`load generator exited with code ${code} before answering`));
    });
    child.send(config);
  });
}

const isChild = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isChild && process.send) {
  process.once('message', (config: LoadConfig) => {
    generate(config).then(
      (result) => process.send!({ result } satisfies ChildMessage, () => process.exit(0)),
      (error: unknown) => process.send!({ error: String(error) } satisfies ChildMessage, () => process.exit(1)),
    );
  });
}
