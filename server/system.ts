import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { jobsProcessName, startJobs } from '../jobs/index.ts';
import { createAgendashPage, createJobRoutes } from '../jobs/job-routes.ts';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import type { EmbeddedDatabase } from './db/embedded-postgres.ts';
import { migrate } from './db/migrate.ts';
import { createDatabaseClock } from './db/database-clock.ts';
import { createDatabaseHealth } from './db/database-health.ts';
import { createPool, poolBudget, type Pool } from './db/pool.ts';
import { loadDevSecrets } from './dev-secrets.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createProbeApp } from './http/health-routes.ts';
import { createWorkerEmitter } from './realtime/cluster.ts';
import { createPresenceRoutes, presenceCounts } from './realtime/presence.ts';
import { createPush, deferredEmitter } from './realtime/push.ts';
import { VISITORS_ROOM } from './realtime/rooms.ts';
import { createSocketServer } from './realtime/socket-server.ts';
import { createCountdownTicker } from './maintenance/countdown-ticker.ts';
import { sendStateOnConnect } from './maintenance/maintenance-events.ts';
import { createMaintenanceGate } from './maintenance/maintenance-gate.ts';
import { createMaintenanceRoutes } from './maintenance/maintenance-routes.ts';
import { createMaintenanceView } from './maintenance/maintenance-state.ts';
import { createMaintenanceStore } from './maintenance/maintenance-store.ts';
import { createMaintenance } from './maintenance/maintenance.ts';
import { createPromotionEventQueue } from './promotions/promotion-events.ts';
import { createPromotionRoutes } from './promotions/promotion-routes.ts';
import { createPromotions } from './promotions/promotions.ts';
import { createSessions } from './sessions/sessions.ts';
import { SessionStore } from './sessions/session-store.ts';
import { sessionCookieName } from './http/session-middleware.ts';
import { loadAssets } from './web/assets.ts';
import { browserBuildDir } from './project-paths.ts';

/** The browser build the web process serves (server/project-paths.ts). */
export const clientDistDir = browserBuildDir;

export interface RunningSystem {
  /** Where the HTTP server listens (absent for ROLE=worker). */
  url?: string;
  /** Where METRICS_PORT's server listens (/metrics, /healthz, /readyz), when it is set. */
  metricsUrl?: string;
  /** While stop() runs: what it is waiting for now (for the log line when it overruns its deadline). */
  stopping(): string | undefined;
  databaseUrl: string;
  opsToken: string;
  stop(): Promise<void>;
}

/** Resolves the secrets: settings win; in development, generated ones kept in DATA_DIR. */
async function resolveSecrets(config: Config): Promise<{ sessionSecrets: readonly string[]; opsToken: string }> {
  if (config.sessionSecrets && config.opsToken) return { sessionSecrets: config.sessionSecrets, opsToken: config.opsToken };
  const dev = await loadDevSecrets(config.dataDir);
  return { sessionSecrets: config.sessionSecrets ?? [dev.sessionSecret], opsToken: config.opsToken ?? dev.opsToken };
}

/**
 * The composition root: starts what the configured ROLE needs, in order, and returns one
 * `stop` that takes it down in the reverse order: stop taking work, stop the jobs, close
 * sockets and the HTTP server, then the pool, then the embedded PostgreSQL.
 */
export async function startSystem(config: Config, logger: Logger, metrics: Metrics = createMetrics()): Promise<RunningSystem> {
  const stops: StopStep[] = [];
  let stoppingNow: string | undefined;
  /** /readyz answers 503 until the start is complete, and again from the moment the stop begins. */
  let started = false;
  /** Set as the stop begins: /readyz answers 503 from then on, while the steps drain. */
  let draining = false;
  const stop = async () => {
    draining = true;
    for (const step of stops.splice(0).reverse()) {
      stoppingNow = step.what;
      try {
        await step();
      } catch (error) {
        logger.error({ err: error, step: step.what }, 'shutdown step failed');
      }
    }
    stoppingNow = undefined;
  };

  let stopJobsOnFailure: (() => Promise<void>) | undefined;
  try {
    const databaseUrl: string = config.databaseUrl ?? (await startEmbedded(config.dataDir, logger, stops));
    await migrate({ databaseUrl, logger });
    // DATABASE_POOL_MAX bounds every connection of this process, LISTEN ones included.
    const budget = poolBudget(config.databasePoolMax, config.role);
    const pool: Pool = createPool({ url: databaseUrl, logger, max: budget.main });
    stops.push(named('the main PostgreSQL pool', () => pool.end()));
    metrics.watchPool('main', pool);

    // Deadlines are compared on the database's clock; the health check measures the offset
    // every second, and tells the parts that must act at once when the database is back.
    const skew = config.testClockSkewMs;
    const clock = createDatabaseClock(skew ? { localNow: () => Date.now() + skew } : {});
    const health = createDatabaseHealth({ pool, logger, clock, metrics });
    await health.check();
    stops.push(named('the database health check', async () => health.close()));
    const ready = () => started && !draining && health.isUp();

    // METRICS_PORT: probes and /metrics from here on, so that /readyz says 503 while the rest starts.
    let metricsUrl: string | undefined;
    if (config.metricsPort !== undefined) {
      const probes = createServer(createProbeApp({ pool, ready, metrics }));
      metricsUrl = await listen(probes, config.metricsPort, config.host);
      stops.push(named('the METRICS_PORT server', () => closeServer(probes)));
    }

    // This process's view of the maintenance state (LISTEN, with a poll behind it): a web
    // process's gate and ticks answer from it, a worker's countdown runs follow it.
    const view = createMaintenanceView({ pool, logger, clock, metrics });
    await view.start();
    stops.push(named('the maintenance view', () => view.close()));
    health.onRecovered(() => void view.refresh().catch(() => undefined));

    const secrets = await resolveSecrets(config);
    const sessions = createSessions({ pool, metrics });
    const promotions = createPromotions({ pool });
    const running: RunningSystem = { databaseUrl, opsToken: secrets.opsToken, stop, stopping: () => stoppingNow, ...(metricsUrl ? { metricsUrl } : {}) };

    // A worker holds no sockets: it reaches the web processes' sockets through their adapter.
    // A web process emits through its own `io`, bound once Socket.IO exists (the push must
    // exist before the app, the app before the server, the server before Socket.IO).
    const webEmitter = config.role === 'worker' ? undefined : deferredEmitter();
    const emitter = webEmitter ?? createWorkerEmitter(pool, { logger });
    const push = createPush({ sessions, emitter, metrics });

    const jobs = await startJobs({
      role: config.role,
      pool,
      logger,
      mongodbUrl: config.mongodbUrl,
      deps: { pool, logger, sessions, push, emitter, clock, maintenanceView: view, metrics },
      metrics,
      processName: jobsProcessName(config.role),
    });
    // Its stop is pushed last (below), so it runs first: Agenda drains its running jobs while
    // sockets and pools still work. Until then, a start that fails stops it here.
    stopJobsOnFailure = () => jobs.stop();

    if (webEmitter) {
      const store = new SessionStore({ pool, ttlSeconds: config.sessionTtlSeconds });
      const maintenance = createMaintenance({ pool, logger, sessions, emitter, agenda: jobs.agenda, view, clock });
      const assets = loadAssets(clientDistDir);
      const { app } = createApp(
        {
          pool,
          logger,
          store,
          sessions,
          push,
          assets: (entry) => assets.entry(entry),
          clientDir: clientDistDir,
          opsApi: [
            createPresenceRoutes({ pool }),
            createPromotionRoutes({ promotions }),
            createJobRoutes({ jobs }),
            createMaintenanceRoutes(maintenance),
          ],
          opsPages: [createAgendashPage(jobs)],
          visitorGate: createMaintenanceGate(view),
          ready,
          metrics,
        },
        {
          sessionSecrets: secrets.sessionSecrets,
          sessionTtlSeconds: config.sessionTtlSeconds,
          opsToken: secrets.opsToken,
          production: config.env === 'production',
          sessionRateLimit: config.sessionRateLimit,
        },
      );
      const server: Server = createServer(app);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        // A deploy reconnects every visitor at once: a deep accept queue keeps the kernel from
        // dropping handshakes into 1-15 s SYN retransmits (bench/connect-storm.bench.ts).
        server.listen({ port: config.port, host: config.host, backlog: 4096 }, resolve);
      });
      stops.push(named('the HTTP server (requests in flight)', () => closeServer(server)));
      // Pushed after the server's close so that it runs before it: server.close() would
      // otherwise wait on the upgraded websocket connections.
      // Socket.IO gets a pool of its own (handshake session checks, presence writes and
      // heartbeats, the session follower, the adapter's LISTEN): queued behind the app's
      // requests, a heartbeat was late by more than the presence window and the node's
      // visitors stopped counting as active. Handshake checks are batched, one at a time.
      const realtimePool = createPool({ url: databaseUrl, logger, max: budget.realtime });
      stops.push(named('the realtime PostgreSQL pool', () => realtimePool.end()));
      metrics.watchPool('realtime', realtimePool);
      metrics.watchActiveSessions(async () => (await presenceCounts(realtimePool)).activeSessions);
      // The widget's promotion events, batched on the realtime pool: a flood of them once
      // queued behind the HTTP requests' pool and slowed every page and /healthz.
      const promotionEvents = createPromotionEventQueue({ promotions: createPromotions({ pool: realtimePool }), logger, metrics });
      stops.push(named('the promotion events queue', () => promotionEvents.close()));
      const realtime = createSocketServer(
        server,
        {
          pool: realtimePool,
          logger,
          store,
          sessions,
          sessionSecrets: secrets.sessionSecrets,
          sessionCookieName: sessionCookieName(config.env === 'production'),
          onConnect: sendStateOnConnect(view, clock),
          onPromotionEvent: (key, event) => promotionEvents.add(key, event),
          metrics,
        },
        { allowedOrigins: config.allowedOrigins },
      );
      webEmitter.bind(realtime.io);
      stops.push(named('Socket.IO (sockets, presence)', () => realtime.close()));
      // Presence is rewritten as soon as the database answers again, not a beat later.
      health.onRecovered(() => realtime.presence.rewrite());
      // This process's tabs hear every maintenance change, and the countdown's ticks, from
      // this process (never from a worker): see countdown-ticker.ts.
      const ticker = createCountdownTicker({
        view,
        clock,
        store: createMaintenanceStore(pool),
        sessions,
        logger,
        emitLocal: (event) => realtime.io.local.to(VISITORS_ROOM).emit('maintenance', event),
      });
      stops.push(named('the countdown ticker', async () => ticker.close()));
      const { port } = server.address() as AddressInfo;
      running.url = urlOf(config.host, port);
    }
    stops.push(named('Agenda (running jobs)', () => jobs.stop()));
    stopJobsOnFailure = undefined;
    started = true;
    return running;
  } catch (error) {
    await stopJobsOnFailure?.().catch((stopError: unknown) => logger.error({ err: stopError }, 'could not stop Agenda'));
    await stop();
    throw error;
  }
}

async function startEmbedded(dataDir: string, logger: Logger, stops: StopStep[]): Promise<string> {
  // Loaded only here: with DATABASE_URL set, a production install needs none of the
  // embedded PostgreSQL's platform binaries (its package loads them as it is imported).
  const { startEmbeddedPostgres } = await import('./db/embedded-postgres.ts');
  const embedded: EmbeddedDatabase = await startEmbeddedPostgres({ dataDir, logger });
  stops.push(named('the embedded PostgreSQL', () => embedded.stop()));
  return embedded.url;
}

/** One step of the stop, named for the log line if the stop overruns its deadline. */
type StopStep = (() => Promise<void>) & { what?: string };
const named = (what: string, run: () => Promise<void>): StopStep => Object.assign(run, { what });

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Listens, and resolves with the URL it listens on (port 0: the one the system chose). */
function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host }, () => {
      server.off('error', reject);
      resolve(urlOf(host, (server.address() as AddressInfo).port));
    });
  });
}

/** Stops accepting connections, lets in-flight requests finish, then drops idle keep-alives. */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 5000).unref();
  });
}
