import type { Server as HttpServer } from 'node:http';
import express, { type RequestHandler, type Router } from 'express';
import { createAgendashPage, createJobRoutes } from '../jobs/job-routes.ts';
import { jobsProcessName, startJobs, type Jobs } from '../jobs/jobs.ts';
import { countdownQueue } from '../jobs/maintenance-countdown.ts';
import { DEFAULT_POOL_MAX } from './config.ts';
import { createDatabaseClock } from './db/database-clock.ts';
import { createDatabaseHealth, type DatabaseHealth } from './db/database-health.ts';
import { migrate } from './db/migrate.ts';
import { createPool, poolBudget, type Pool } from './db/pool.ts';
import type { OpsAccessOptions } from './ops-access/ops-access.ts';
import { createOpsSurface } from './http/ops-surface.ts';
import { createLogger, type Logger } from './logger.ts';
import { createCountdownTicker } from './maintenance/countdown-ticker.ts';
import { sendStateOnConnect } from './maintenance/maintenance-events.ts';
import { createMaintenanceGate } from './maintenance/maintenance-gate.ts';
import { createMaintenanceRoutes } from './maintenance/maintenance-routes.ts';
import { createMaintenanceView, type MaintenanceView } from './maintenance/maintenance-state.ts';
import { createMaintenanceStore } from './maintenance/maintenance-store.ts';
import { createMaintenance, type Maintenance } from './maintenance/maintenance.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { browserBuildDir } from './project-paths.ts';
import { createPromotionEventQueue } from './promotions/promotion-events.ts';
import { createPromotionRoutes } from './promotions/promotion-routes.ts';
import { createPromotions, type Promotions } from './promotions/promotions.ts';
import { createWorkerEmitter } from './realtime/cluster.ts';
import { presenceCounts } from './realtime/presence.ts';
import { createPresenceRoutes } from './realtime/presence-routes.ts';
import { createPush, deferredEmitter, type Push } from './realtime/push.ts';
import { VISITORS_ROOM } from './realtime/rooms.ts';
import { createSocketServer, type SocketServer } from './realtime/socket-server.ts';
import { SESSION_COOKIE } from './http/session-middleware.ts';
import { flashMiddleware } from './sessions/flash-middleware.ts';
import { createSessions, type Sessions } from './sessions/sessions.ts';
import { SessionStore } from './sessions/session-store.ts';
import { named, runStopSteps, type StopStep } from './stop-steps.ts';
import { loadAssets } from './web/assets.ts';
import { createWidgetRoutes } from './web/widget-routes.ts';

/**
 * flashcast as a library: what it adds to an Express app and HTTP server that a host already
 * has. The demo shop (server/system.ts) is built the same way, as one consumer of it.
 *
 * ```ts
 * const flashcast = await createFlashcast({ databaseUrl, sessionSecrets: [secret], opsToken, cookieName: 'connect.sid' });
 * app.use(session({ store: flashcast.store, secret, resave: false, saveUninitialized: false }));
 * app.use(flashcast.flash);        // req.flash, as connect-flash: stored, pushed live, shown once
 * app.use(flashcast.routes);       // /flashcast/widget.js, the ops console, API and Agendash under /ops
 * const server = http.createServer(app);
 * flashcast.attach(server);        // Socket.IO: a room per session, presence, live delivery
 * server.listen(3000);
 * ```
 *
 * It applies its migrations, opens its pools (DATABASE_POOL_MAX connections in all, LISTEN
 * ones included), watches the database's health and clock, and, for the roles that run them,
 * the jobs. Pages show flashes through the widget: `<script src="/flashcast/widget.js" defer>`.
 */
export interface FlashcastOptions {
  /** PostgreSQL; flashcast's migrations are applied there at start. */
  databaseUrl: string;
  /** The host's express-session secret(s), newest first: socket handshakes read its cookie with them. */
  sessionSecrets: readonly string[];
  /** The bootstrap ops administrator's token (at least 16 characters). */
  opsToken: string;
  /** The host's express-session cookie name (express-session's default is `connect.sid`); default ours, `flashcast.sid`. */
  cookieName?: string;
  /** Idle lifetime of a session (default a day). */
  sessionTtlSeconds?: number;
  /** Secure cookies, `__Host-` names, trust in one proxy hop is the host's own. */
  production?: boolean;
  /** Origins allowed to open a socket; default the request's own host. */
  allowedOrigins?: readonly string[] | undefined;
  /** 'all' (default): web and jobs in one process; 'web': no jobs run here; 'worker': jobs only, no app. */
  role?: 'all' | 'web' | 'worker';
  logger?: Logger;
  metrics?: Metrics;
  /** DATABASE_POOL_MAX: every connection of this process, LISTEN ones included (default 15). */
  poolMax?: number;
  /** Agenda keeps its jobs in MongoDB instead of PostgreSQL. */
  mongodbUrl?: string | undefined;
  /** Ops console sessions' idle timeout and the refused-token limit (tests shorten them). */
  opsSessionIdleSeconds?: number | undefined;
  opsSignInLimits?: OpsAccessOptions['signInLimits'];
  /** A test hook only: this process's clock is off by this much (deadlines stay on the database's). */
  clockSkewMs?: number;
  /** Where the steps of the stop are collected (the demo's composition root passes its own list). */
  stops?: StopStep[];
  /**
   * Pools of the caller's (a benchmark that times their statements): used as given and never
   * ended here. Unset, flashcast opens its own within `poolMax`.
   */
  pools?: { main: Pool; realtime?: Pool };
}

export interface Flashcast {
  /** The express-session store: give it to the host's `session({ store })`. */
  store: SessionStore;
  /** `req.flash(type, message)` as connect-flash, persisted in flashcast's flashes and pushed live. */
  flash: RequestHandler;
  /** GET /flashcast/widget.js and its files; everything under /ops (console, API, Agendash, /metrics). */
  routes: Router;
  /** Maintenance mode for the host's own pages: 503 with Retry-After and the maintenance page (optional). */
  maintenanceGate: RequestHandler;
  /** Socket.IO on the host's HTTP server (web roles). Call once, before or after it listens. */
  attach(server: HttpServer): SocketServer;
  /** The database answers and the process is not stopping. */
  ready(): boolean;
  /** Stops the jobs, drops the sockets, releases the pools. The HTTP server stays the host's. */
  close(): Promise<void>;

  // The parts, for a host that goes further (the demo shop uses them).
  pool: Pool;
  sessions: Sessions;
  push: Push;
  promotions: Promotions;
  maintenance: Maintenance | undefined;
  view: MaintenanceView;
  health: DatabaseHealth;
  jobs: Jobs;
  logger: Logger;
  metrics: Metrics;
}

export async function createFlashcast(options: FlashcastOptions): Promise<Flashcast> {
  const logger = options.logger ?? createLogger('info');
  const metrics = options.metrics ?? createMetrics();
  const role = options.role ?? 'all';
  const ownStops = options.stops === undefined;
  const stops: StopStep[] = options.stops ?? [];
  /** Agenda, once started and until its stop is in the list (attach() puts it there for a web process). */
  let unlistedJobs: Jobs | undefined;
  /**
   * Puts Agenda's stop in the list, once. Pushed last, so it runs first: Agenda drains its
   * running jobs while sockets and pools still work.
   */
  const listJobsStop = () => {
    const jobs = unlistedJobs;
    unlistedJobs = undefined;
    if (jobs) stops.push(named('Agenda (running jobs)', () => jobs.stop()));
  };
  let closing = false;
  const close = async () => {
    closing = true;
    listJobsStop();
    if (ownStops) await runStopSteps(stops, logger);
  };

  try {
    await migrate({ databaseUrl: options.databaseUrl, logger });
    const budget = poolBudget(options.poolMax ?? DEFAULT_POOL_MAX, role);
    const pool: Pool = options.pools?.main ?? createPool({ url: options.databaseUrl, logger, max: budget.main });
    if (!options.pools) stops.push(named('the main PostgreSQL pool', () => pool.end()));
    metrics.watchPool('main', pool);

    // Deadlines are compared on the database's clock; the health check measures the offset
    // every second, and tells the parts that must act at once when the database is back.
    const skew = options.clockSkewMs ?? 0;
    const clock = createDatabaseClock(skew ? { localNow: () => Date.now() + skew } : {});
    const health = createDatabaseHealth({ pool, logger, clock, metrics });
    await health.check();
    stops.push(named('the database health check', async () => health.close()));

    // This process's view of the maintenance state (LISTEN, with a poll behind it): a web
    // process's gate and ticks answer from it, a worker's countdown runs follow it.
    const view = createMaintenanceView({ pool, logger, clock, metrics });
    await view.start();
    stops.push(named('the maintenance view', () => view.close()));
    health.onRecovered(() => void view.refresh().catch(() => undefined));

    const sessions = createSessions({ pool, metrics });
    const promotions = createPromotions({ pool });
    // A worker holds no sockets: it reaches the web processes' sockets through their adapter.
    // A web process emits through its own `io`, bound in attach().
    const webEmitter = role === 'worker' ? undefined : deferredEmitter();
    const emitter = webEmitter ?? createWorkerEmitter(pool, { logger });
    const push = createPush({ sessions, emitter, metrics });

    const jobs = await startJobs({
      role,
      pool,
      logger,
      mongodbUrl: options.mongodbUrl,
      deps: { pool, logger, sessions, push, emitter, clock, maintenanceView: view, metrics },
      metrics,
      processName: jobsProcessName(role),
    });
    // Its stop goes in the list in attach() for a web process, below for a worker.
    unlistedJobs = jobs;

    const store = new SessionStore({ pool, ttlSeconds: options.sessionTtlSeconds ?? 86_400 });
    const maintenance = webEmitter
      ? createMaintenance({ pool, logger, sessions, emitter, queueCountdown: countdownQueue(jobs.agenda), view, clock })
      : undefined;

    const routes = express.Router();
    if (webEmitter) {
      const assets = loadAssets(browserBuildDir);
      // The widget for any site: GET /flashcast/widget.js and its files (server/web/widget-routes.ts).
      routes.use(createWidgetRoutes({ clientDir: browserBuildDir, assets: () => assets.entry('widget') }));
      routes.use(
        createOpsSurface(
          {
            pool,
            logger,
            sessions,
            push,
            consoleAssets: () => assets.entry('ops'),
            opsApi: [
              createPresenceRoutes({ pool }),
              createPromotionRoutes({ promotions }),
              createJobRoutes({ jobs }),
              createMaintenanceRoutes(maintenance!),
            ],
            opsPages: [createAgendashPage(jobs)],
            metrics,
          },
          {
            opsToken: options.opsToken,
            production: options.production ?? false,
            opsSessionIdleSeconds: options.opsSessionIdleSeconds,
            opsSignInLimits: options.opsSignInLimits,
          },
        ),
      );
    } else {
      listJobsStop();
    }

    let attached: SocketServer | undefined;
    const attach = (server: HttpServer): SocketServer => {
      if (!webEmitter) throw new Error('A worker (role: "worker") holds no sockets: attach() is for web processes.');
      if (attached) throw new Error('attach() was called twice: flashcast serves one HTTP server per instance.');
      // Socket.IO gets a pool of its own (handshake session checks, presence writes and
      // heartbeats, the session follower, the adapter's LISTEN): queued behind the app's
      // requests, a heartbeat was late by more than the presence window and the node's
      // visitors stopped counting as active. Handshake checks are batched, one at a time.
      const givenRealtimePool = options.pools?.realtime ?? options.pools?.main;
      const realtimePool = givenRealtimePool ?? createPool({ url: options.databaseUrl, logger, max: budget.realtime });
      if (!givenRealtimePool) stops.push(named('the realtime PostgreSQL pool', () => realtimePool.end()));
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
          sessionSecrets: options.sessionSecrets,
          sessionCookieName: options.cookieName ?? SESSION_COOKIE,
          onConnect: sendStateOnConnect(view, clock),
          onPromotionEvent: (key, event) => promotionEvents.add(key, event),
          metrics,
        },
        { allowedOrigins: options.allowedOrigins },
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
      listJobsStop();
      attached = realtime;
      return realtime;
    };

    return {
      store,
      flash: flashMiddleware({ pool, store, emitter, logger }),
      routes,
      maintenanceGate: createMaintenanceGate(view),
      attach,
      ready: () => !closing && health.isUp(),
      close,
      pool,
      sessions,
      push,
      promotions,
      maintenance,
      view,
      health,
      jobs,
      logger,
      metrics,
    };
  } catch (error) {
    // Its own steps run here; a caller's list (options.stops) is the caller's to run.
    await close();
    throw error;
  }
}
