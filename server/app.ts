import express, { type RequestHandler, type Router } from 'express';
import helmet from 'helmet';
import path from 'node:path';
import type { Pool } from './db/pool.ts';
import type { Logger } from './logger.ts';
import { createErrorHandler, notFoundHandler } from './http/error-handler.ts';
import { requireOpsLogin, requireOpsToken } from './http/ops-auth.ts';
import { createOpsSessionRoutes } from './http/ops-routes.ts';
import { createSessionMiddleware } from './http/session-middleware.ts';
import { createVisitorRoutes } from './http/visitor-routes.ts';
import { sendMaintenancePage } from './maintenance/maintenance-gate.ts';
import type { Push } from './realtime/push.ts';
import type { Sessions } from './sessions/sessions.ts';
import type { SessionStore } from './sessions/session-store.ts';
import type { PageAssets } from './web/assets.ts';
import { renderOpsConsole } from './web/pages.ts';

export interface AppDeps {
  pool: Pool;
  logger: Logger;
  store: SessionStore;
  sessions: Sessions;
  push: Push;
  /** The built browser code (Vite manifest); a function so a rebuild needs no restart in dev. */
  assets: (entry: 'visitor' | 'ops') => PageAssets;
  clientDir: string;
  /** More ops API routers (promotions, jobs, maintenance), mounted under /ops/api. */
  opsApi?: Router[];
  /** More ops pages (Agendash), mounted under /ops behind the token. */
  opsPages?: Array<{ path: string; handler: RequestHandler | Router }>;
  /** Runs before the visitor routes; maintenance mode answers 503 here. */
  visitorGate?: RequestHandler;
  /** /readyz: whether this process takes traffic now (started, not draining, database reachable). */
  ready?: () => boolean;
}

export interface AppConfig {
  sessionSecrets: readonly string[];
  sessionTtlSeconds: number;
  opsToken: string;
  production: boolean;
}

/**
 * Builds the express app; the caller listens. Order matters: ops routes come before the
 * visitor gate so that maintenance mode never locks operators out.
 */
export function createApp(deps: AppDeps, config: AppConfig) {
  const app = express();
  if (config.production) app.set('trust proxy', 1);
  app.disable('x-powered-by');
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          // Socket.IO's websocket is same-origin; 'self' covers ws(s) in current browsers.
          'connect-src': ["'self'"],
          'img-src': ["'self'", 'data:'],
          'upgrade-insecure-requests': config.production ? [] : null,
        },
      },
      strictTransportSecurity: config.production,
    }),
  );
  app.use('/assets', express.static(path.join(deps.clientDir, 'assets'), { immutable: true, maxAge: '1y', index: false }));
  app.use(express.json({ limit: '16kb' }));

  const sessionMiddleware = createSessionMiddleware({
    store: deps.store,
    secrets: config.sessionSecrets,
    ttlSeconds: config.sessionTtlSeconds,
    secureCookies: config.production,
  });

  const opsApi = express.Router();
  opsApi.use(requireOpsToken(config.opsToken));
  opsApi.use(createOpsSessionRoutes({ sessions: deps.sessions, push: deps.push }));
  for (const router of deps.opsApi ?? []) opsApi.use(router);
  opsApi.use(notFoundHandler);
  app.use('/ops/api', opsApi);
  for (const page of deps.opsPages ?? []) app.use(`/ops${page.path}`, requireOpsLogin(config.opsToken), page.handler);
  app.get('/ops', (_req, res) => {
    res.type('html').send(renderOpsConsole({ assets: deps.assets('ops') }));
  });

  app.get('/healthz', async (_req, res) => {
    try {
      await deps.pool.query('SELECT 1');
      res.json({ status: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });

  // Readiness, apart from liveness: a load balancer stops sending visitors here while this
  // process drains or cannot reach its database, without restarting it.
  app.get('/readyz', (_req, res) => {
    const ready = deps.ready?.() ?? true;
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable' });
  });

  if (deps.visitorGate) app.use(deps.visitorGate);
  app.use(sessionMiddleware);
  app.use(createVisitorRoutes({ pool: deps.pool, store: deps.store, sessions: deps.sessions, assets: () => deps.assets('visitor') }));
  app.use('/api', notFoundHandler);
  app.use(
    createErrorHandler(deps.logger, {
      sendUnavailablePage: (res, retryAfterSeconds) =>
        sendMaintenancePage(res, retryAfterSeconds, 'We cannot reach our database for a moment. This page tries again by itself.'),
    }),
  );

  return { app, sessionMiddleware };
}
