import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import type { EmbeddedDatabase } from './db/embedded-postgres.ts';
import { loadDevSecrets } from './dev-secrets.ts';
import { createFlashcast } from './flashcast.ts';
import { createProbeApp } from './http/health-routes.ts';
import { sessionCookieName } from './http/session-middleware.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { browserBuildDir } from './project-paths.ts';
import { named, runStopSteps, type StopStep } from './stop-steps.ts';
import { loadAssets } from './web/assets.ts';

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
    await runStopSteps(stops, logger, (what) => {
      stoppingNow = what;
    });
  };

  try {
    const databaseUrl: string = config.databaseUrl ?? (await startEmbedded(config.dataDir, logger, stops));
    const secrets = await resolveSecrets(config);
    const production = config.env === 'production';
    // flashcast itself, as any Express app would add it (server/flashcast.ts): migrations,
    // pools, health and clock, the maintenance view, the jobs; its stop steps join ours.
    const flashcast = await createFlashcast({
      databaseUrl,
      sessionSecrets: secrets.sessionSecrets,
      opsToken: secrets.opsToken,
      cookieName: sessionCookieName(production),
      sessionTtlSeconds: config.sessionTtlSeconds,
      production,
      allowedOrigins: config.allowedOrigins,
      role: config.role,
      logger,
      metrics,
      poolMax: config.databasePoolMax,
      mongodbUrl: config.mongodbUrl,
      clockSkewMs: config.testClockSkewMs,
      stops,
    });
    const ready = () => started && !draining && flashcast.ready();

    // METRICS_PORT: probes and /metrics from here on, so that /readyz says 503 while the rest starts.
    let metricsUrl: string | undefined;
    if (config.metricsPort !== undefined) {
      const probes = createServer(createProbeApp({ pool: flashcast.pool, ready, metrics }));
      metricsUrl = await listen(probes, config.metricsPort, config.host);
      stops.push(named('the METRICS_PORT server', () => closeServer(probes)));
    }
    const running: RunningSystem = {
      databaseUrl,
      opsToken: secrets.opsToken,
      stop,
      stopping: () => stoppingNow,
      ...(metricsUrl ? { metricsUrl } : {}),
    };

    if (config.role !== 'worker') {
      // The demo shop: one consumer of flashcast, with its pages, cart and session middleware.
      const assets = loadAssets(clientDistDir);
      const { app } = createApp(
        {
          pool: flashcast.pool,
          logger,
          store: flashcast.store,
          sessions: flashcast.sessions,
          push: flashcast.push,
          assets: (entry) => assets.entry(entry),
          clientDir: clientDistDir,
          ops: flashcast.routes,
          visitorGate: flashcast.maintenanceGate,
          ready,
          metrics,
        },
        {
          sessionSecrets: secrets.sessionSecrets,
          sessionTtlSeconds: config.sessionTtlSeconds,
          opsToken: secrets.opsToken,
          production,
          sessionRateLimit: config.sessionRateLimit,
        },
      );
      const server: Server = createServer(app);
      // A deploy reconnects every visitor at once: a deep accept queue keeps the kernel from
      // dropping handshakes into 1-15 s SYN retransmits (bench/connect-storm.bench.ts).
      running.url = await listen(server, config.port, config.host, 4096);
      stops.push(named('the HTTP server (requests in flight)', () => closeServer(server)));
      // After the server's close in the list, so that they run before it: server.close()
      // would otherwise wait on the upgraded websocket connections.
      flashcast.attach(server);
    }
    started = true;
    return running;
  } catch (error) {
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

function urlOf(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Listens, and resolves with the URL it listens on (port 0: the one the system chose). */
function listen(server: Server, port: number, host: string, backlog?: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ...(backlog ? { backlog } : {}) }, () => {
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
