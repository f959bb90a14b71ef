import express, { type RequestHandler, type Router } from 'express';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Push } from '../realtime/push.ts';
import type { Sessions } from '../sessions/sessions.ts';
import type { PageAssets } from '../web/assets.ts';
import { renderOpsConsole } from '../web/ops-console-page.ts';
import { notFoundHandler } from './error-handler.ts';
import { buildOpenApiDocument } from './openapi-document.ts';
import { sendMetrics } from './health-routes.ts';
import { createOpsAccess, type OpsAccessOptions } from '../ops-access/ops-access.ts';
import { createSessionRoutes } from '../sessions/session-routes.ts';

/**
 * Everything under /ops, as one router that any Express app mounts: the ops API, the console,
 * the ops pages (Agendash), and GET /metrics behind the same credentials. Ops access
 * (ops-access/ops-access.ts) guards all of it: no cross-site writes; bearer tokens or the console's ops
 * session; every write audited; viewers only read. The demo shop (server/app.ts) and a host
 * app (server/flashcast.ts) mount the same router.
 */
export interface OpsSurfaceDeps {
  pool: Pool;
  logger: Logger;
  sessions: Sessions;
  push: Push;
  /** The console's built page (Vite manifest entry 'ops'). */
  consoleAssets: () => PageAssets;
  /** More ops API routers (presence, promotions, jobs, maintenance), mounted under /ops/api. */
  opsApi?: Router[];
  /** More ops pages (Agendash), mounted under /ops behind ops access. */
  opsPages?: Array<{ path: string; handler: RequestHandler | Router }>;
  metrics?: Metrics | undefined;
}

export interface OpsSurfaceConfig {
  opsToken: string;
  production: boolean;
  /** Idle timeout of an ops console session (default 30 minutes); short in tests. */
  opsSessionIdleSeconds?: number | undefined;
  /** Refused ops tokens per client address before 429 (default 10 a minute). */
  opsSignInLimits?: OpsAccessOptions['signInLimits'];
}

export function createOpsSurface(deps: OpsSurfaceDeps, config: OpsSurfaceConfig): Router {
  const surface = express.Router();
  const opsAccess = createOpsAccess(
    { pool: deps.pool, logger: deps.logger },
    {
      bootstrapToken: config.opsToken,
      production: config.production,
      idleSeconds: config.opsSessionIdleSeconds,
      signInLimits: config.opsSignInLimits,
    },
  );
  surface.use('/ops', opsAccess.guard);
  // A host app may parse no JSON of its own (a no-op where the app already did).
  surface.use('/ops', express.json({ limit: '16kb' }));
  const opsApi = express.Router();
  // Ops JSON (sessions, audit, presence) is nobody's to cache, whatever the answer.
  opsApi.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });
  opsApi.use(opsAccess.signInRoutes);
  opsApi.use(...opsAccess.protectApi);
  opsApi.use(opsAccess.routes);
  // Behind ops access like the rest of /ops/api: it names no secret, but it maps every write
  // an attacker would try, and whoever needs it (the CLI, the console, a deploy script) has a token.
  let openApi: ReturnType<typeof buildOpenApiDocument> | undefined;
  opsApi.get('/openapi.json', (_req, res) => {
    openApi ??= buildOpenApiDocument();
    res.json(openApi);
  });
  opsApi.use(createSessionRoutes({ sessions: deps.sessions, push: deps.push }));
  for (const router of deps.opsApi ?? []) opsApi.use(router);
  opsApi.use(notFoundHandler);
  surface.use('/ops/api', opsApi);
  for (const page of deps.opsPages ?? []) surface.use(`/ops${page.path}`, ...opsAccess.protectPage, page.handler);
  surface.get('/ops', (_req, res) => {
    res.type('html').send(renderOpsConsole({ assets: deps.consoleAssets() }));
  });
  // Ops credentials here; without them on METRICS_PORT (health-routes.ts createProbeApp).
  if (deps.metrics) surface.get('/metrics', ...opsAccess.protectApi, sendMetrics(deps.metrics));
  return surface;
}
