import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * This process's Prometheus metrics (GET /metrics, CONTRACT.md), every name prefixed
 * `flashcast_`. One registry per process, made by the composition root and handed to the
 * parts that count something: never prom-client's global registry, which a test would have
 * to reset between apps. Every part takes it as an optional dependency, so a test builds a
 * part without it.
 *
 * Counters count what this process did (a worker's job runs, a web process's
 * acknowledgements); Prometheus sums them over processes. Gauges are read at scrape time
 * from their owners (the pools, Socket.IO, presence).
 */
export interface Metrics {
  readonly registry: Registry;
  /** By method, route pattern (`/products/:sku`, never the raw URL) and status. */
  readonly httpRequestSeconds: Histogram<'method' | 'route' | 'status'>;
  /** Flashes stored into sessions (one per session reached), ops pushes, maintenance and promotion rounds alike. */
  readonly flashesWritten: Counter;
  /** Flashes removed by a visitor's acknowledgement (socket or HTTP). */
  readonly flashesAcknowledged: Counter;
  /** A push's write into the sessions, and its emit to their rooms (server/realtime/push.ts). */
  readonly pushWriteSeconds: Histogram;
  readonly pushEmitSeconds: Histogram;
  /** Job runs this process ran, by job and result (`success`, `failure`), and their durations. */
  readonly jobRuns: Counter<'job' | 'result'>;
  readonly jobSeconds: Histogram<'job'>;
  /** A component that had lost the database works again (server/db/outage-log.ts). */
  readonly databaseReconnects: Counter<'component'>;
  /** Reports the pool's connections (in use, idle, waiting clients) under `name` at each scrape. */
  watchPool(name: string, pool: PoolCounts): void;
  /** This process's open sockets, read at each scrape. */
  watchSockets(count: () => number): void;
  /** Sessions with a connected socket on any web process (presence), queried at each scrape. */
  watchActiveSessions(count: () => Promise<number>): void;
  /** The exposition text and its content type, for GET /metrics. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** What a pg Pool says about its connections. */
export interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** Short jobs and HTTP requests: 5 ms up to 10 s. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Jobs run from milliseconds (an empty round) to minutes (a countdown). */
const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900];

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'flashcast_' });

  const pools = new Map<string, PoolCounts>();
  let sockets: (() => number) | undefined;
  let activeSessions: (() => Promise<number>) | undefined;

  new Gauge({
    name: 'flashcast_pool_connections',
    help: 'PostgreSQL connections of each pool of this process, by state (in_use, idle)',
    labelNames: ['pool', 'state'],
    registers: [registry],
    collect() {
      for (const [pool, counts] of pools) {
        this.set({ pool, state: 'in_use' }, counts.totalCount - counts.idleCount);
        this.set({ pool, state: 'idle' }, counts.idleCount);
      }
    },
  });
  new Gauge({
    name: 'flashcast_pool_waiting_clients',
    help: 'Queries of each pool waiting for a free connection',
    labelNames: ['pool'],
    registers: [registry],
    collect() {
      for (const [pool, counts] of pools) this.set({ pool }, counts.waitingCount);
    },
  });
  new Gauge({
    name: 'flashcast_open_sockets',
    help: 'Socket.IO connections open on this process',
    registers: [registry],
    collect() {
      this.set(sockets?.() ?? 0);
    },
  });
  const activeSessionsGauge = new Gauge({
    name: 'flashcast_active_sessions',
    help: 'Sessions with a connected socket on any web process (presence; the same figure on every web process)',
    registers: [registry],
    async collect() {
      if (!activeSessions) return;
      try {
        this.set(await activeSessions());
      } catch {
        // The database is away: no figure rather than a stale one or a failed scrape.
        this.reset();
      }
    },
  });

  return {
    registry,
    httpRequestSeconds: new Histogram({
      name: 'flashcast_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern and status',
      labelNames: ['method', 'route', 'status'],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    flashesWritten: new Counter({
      name: 'flashcast_flashes_written_total',
      help: 'Flashes stored into sessions, one per session reached',
      registers: [registry],
    }),
    flashesAcknowledged: new Counter({
      name: 'flashcast_flashes_acknowledged_total',
      help: "Flashes removed by a visitor's acknowledgement",
      registers: [registry],
    }),
    pushWriteSeconds: new Histogram({
      name: 'flashcast_push_write_duration_seconds',
      help: "A push's write of its flash into the sessions",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    pushEmitSeconds: new Histogram({
      name: 'flashcast_push_emit_duration_seconds',
      help: "A push's emit of its flash to the sessions' rooms",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    jobRuns: new Counter({
      name: 'flashcast_job_runs_total',
      help: 'Job runs this process ran, by job and result (success, failure)',
      labelNames: ['job', 'result'],
      registers: [registry],
    }),
    jobSeconds: new Histogram({
      name: 'flashcast_job_duration_seconds',
      help: 'Job runs this process ran, by job',
      labelNames: ['job'],
      buckets: JOB_BUCKETS,
      registers: [registry],
    }),
    databaseReconnects: new Counter({
      name: 'flashcast_database_reconnects_total',
      help: 'Times a component that had lost the database worked again, by component',
      labelNames: ['component'],
      registers: [registry],
    }),
    watchPool(name, pool) {
      pools.set(name, pool);
    },
    watchSockets(count) {
      sockets = count;
    },
    watchActiveSessions(count) {
      activeSessions = count;
      activeSessionsGauge.set(0);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/** Seconds since `start` (a `performance.now()`), for the histograms. */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
