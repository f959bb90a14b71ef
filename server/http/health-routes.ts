import express, { Router, type RequestHandler } from 'express';
import type { Pool } from '../db/pool.ts';
import type { Metrics } from '../metrics.ts';

export interface HealthDeps {
  pool: Pool;
  /** Whether this process takes traffic now: started, not draining, database reachable. */
  ready?: (() => boolean) | undefined;
}

/**
 * Liveness and readiness (CONTRACT.md). /healthz: the database answers now. /readyz: this
 * process takes traffic; a load balancer stops sending visitors here while it starts, drains
 * on shutdown or cannot reach its database, without restarting it.
 */
export function createHealthRoutes(deps: HealthDeps): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    try {
      await deps.pool.query('SELECT 1');
      res.json({ status: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable' });
    }
  });
  router.get('/readyz', (_req, res) => {
    const ready = deps.ready?.() ?? true;
    res.setHeader('Cache-Control', 'no-store');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable' });
  });
  return router;
}

/** GET /metrics: Prometheus's text format. */
export function sendMetrics(metrics: Metrics): RequestHandler {
  return async (_req, res) => {
    const { contentType, body } = await metrics.render();
    res.setHeader('Cache-Control', 'no-store');
    res.type(contentType).send(body);
  };
}

/**
 * What METRICS_PORT serves: /healthz, /readyz and /metrics, without the ops token; a worker
 * has no other HTTP server. Bind it where only the monitoring reaches it. The caller listens.
 */
export function createProbeApp(deps: HealthDeps & { metrics: Metrics }): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(createHealthRoutes(deps));
  app.get('/metrics', sendMetrics(deps.metrics));
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'This port serves /healthz, /readyz and /metrics only.' } });
  });
  return app;
}
