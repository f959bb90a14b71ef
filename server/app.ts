import express, { type RequestHandler, type Router } from 'express';
import helmet from 'helmet';
import path from 'node:path';
import type { Pool } from './db/pool.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { createErrorHandler, notFoundHandler } from './http/error-handler.ts';
import { createHealthRoutes } from './http/health-routes.ts';
import type { OpsAccessOptions } from './ops-access/ops-access.ts';
import { createOpsSurface } from './http/ops-surface.ts';
import { createRequestLog, measureRequests } from './http/request-log.ts';
import { createSessionMiddleware } from './http/session-middleware.ts';
import { createSessionRateLimit } from './http/session-rate-limit.ts';
import { DEFAULT_SESSION_RATE_LIMIT } from './config.ts';
import { createShopRoutes } from './shop/shop-routes.ts';
import { sendMaintenancePage } from './maintenance/maintenance-gate.ts';
import type { Push } from './realtime/push.ts';
import type { Sessions } from './sessions/sessions.ts';
import type { SessionStore } from './sessions/session-store.ts';
import type { PageAssets } from './web/assets.ts';
import { pageStyleHash, renderTooManyRequests } from './web/unavailable-pages.ts';
import { createWidgetRoutes } from './web/widget-routes.ts';

export interface AppDeps {
  pool: Pool;
  logger: Logger;
  store: SessionStore;
  sessions: Sessions;
  push: Push;
  /** The built browser code (Vite manifest); a function so a rebuild needs no restart in dev. */
  assets: (entry: 'visitor' | 'ops' | 'widget') => PageAssets;
  clientDir: string;
  /** More ops API routers (promotions, jobs, maintenance), mounted under /ops/api. */
  opsApi?: Router[];
  /** More ops pages (Agendash), mounted under /ops behind ops access (session or token, roles, audit). */
  opsPages?: Array<{ path: string; handler: RequestHandler | Router }>;
  /** Everything under /ops, built already (server/flashcast.ts does); else built here from the fields above. */
  ops?: Router;
  /** Runs before the visitor routes; maintenance mode answers 503 here. */
  visitorGate?: RequestHandler;
  /** /readyz: whether this process takes traffic now (started, not draining, database reachable). */
  ready?: () => boolean;
  /** Request durations, and GET /metrics behind the ops token (server/metrics.ts). */
  metrics?: Metrics;
}

export interface AppConfig {
  sessionSecrets: readonly string[];
  sessionTtlSeconds: number;
  opsToken: string;
  production: boolean;
  /** SESSION_RATE_LIMIT: new sessions a minute from one address; 0: none. Default DEFAULT_SESSION_RATE_LIMIT. */
  sessionRateLimit?: number;
  /** Idle timeout of an ops console session (default 30 minutes); short in tests. */
  opsSessionIdleSeconds?: number;
  /** Refused ops tokens per client address before 429 (default 10 a minute). */
  opsSignInLimits?: OpsAccessOptions['signInLimits'];
}

/**
 * Builds the express app; the caller listens. Order matters: ops routes come before the
 * visitor gate so that maintenance mode never locks operators out.
 */
export function createApp(deps: AppDeps, config: AppConfig) {
  const app = express();
  if (config.production) app.set('trust proxy', 1);
  app.disable('x-powered-by');
  app.use(createRequestLog(deps.logger));
  if (deps.metrics) app.use(measureRequests(deps.metrics));
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // Socket.IO's websocket is same-origin; 'self' covers ws(s) in current browsers.
          'connect-src': ["'self'"],
          'img-src': ["'self'", 'data:'],
          // Helmet's default allows any https: stylesheet and inline style; ours are all built
          // files (the maintenance and 429 pages carry their own policy with their style's hash).
          'style-src': ["'self'"],
          'font-src': ["'self'", 'data:'],
          'upgrade-insecure-requests': config.production ? [] : null,
        },
      },
      strictTransportSecurity: config.production,
    }),
  );
  app.use('/assets', express.static(path.join(deps.clientDir, 'assets'), { immutable: true, maxAge: '1y', index: false }));
  // The widget for any site: GET /flashcast/widget.js and its files (server/web/widget-routes.ts).
  app.use(createWidgetRoutes({ clientDir: deps.clientDir, assets: () => deps.assets('widget') }));
  app.use(express.json({ limit: '16kb' }));

  const sessionMiddleware = createSessionMiddleware({
    store: deps.store,
    secrets: config.sessionSecrets,
    ttlSeconds: config.sessionTtlSeconds,
    secureCookies: config.production,
  });

  app.use(
    deps.ops ??
      createOpsSurface(
        {
          pool: deps.pool,
          logger: deps.logger,
          sessions: deps.sessions,
          push: deps.push,
          consoleAssets: () => deps.assets('ops'),
          ...(deps.opsApi ? { opsApi: deps.opsApi } : {}),
          ...(deps.opsPages ? { opsPages: deps.opsPages } : {}),
          metrics: deps.metrics,
        },
        config,
      ),
  );

  app.use(createHealthRoutes({ pool: deps.pool, ready: deps.ready }));

  if (deps.visitorGate) app.use(deps.visitorGate);
  app.use(sessionMiddleware);
  const newSessions = createSessionRateLimit({ perMinute: config.sessionRateLimit ?? DEFAULT_SESSION_RATE_LIMIT });
  app.use(
    createShopRoutes({ pool: deps.pool, store: deps.store, sessions: deps.sessions, assets: () => deps.assets('visitor'), newSessions }),
  );
  app.use('/api', notFoundHandler);
  app.use(
    createErrorHandler(deps.logger, {
      sendUnavailablePage: (res, retryAfterSeconds) =>
        sendMaintenancePage(res, retryAfterSeconds, 'We cannot reach our database for a moment. This page tries again by itself.'),
      sendTooManyRequestsPage: (res, retryAfterSeconds) => {
        res.setHeader(
          'Content-Security-Policy',
          `default-src 'none'; style-src ${pageStyleHash}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        );
        res.type('html').send(renderTooManyRequests({ retryAfterSeconds }));
      },
    }),
  );

  return { app, sessionMiddleware };
}
