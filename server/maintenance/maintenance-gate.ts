import type { RequestHandler, Response } from 'express';
import type { ApiError } from '../../protocol/events.ts';
import { maintenanceScriptHash, pageStyleHash, renderMaintenance } from '../web/unavailable-pages.ts';
import { maintenancePageMessage } from './maintenance-events.ts';
import type { MaintenanceView } from './maintenance-state.ts';

/**
 * The visitor gate (AppDeps.visitorGate): in maintenance mode every visitor request answers
 * 503 with Retry-After, pages with the maintenance page and /api with a JSON error. It is
 * mounted after /assets, /ops and /healthz, so the ops console, its assets and health checks
 * keep working; it runs before the session middleware, so a shut-out visitor costs no
 * session read or write.
 */

/** What Retry-After says: maintenance usually takes minutes; the page itself checks every few seconds. */
export const RETRY_AFTER_SECONDS = 30;

/**
 * The maintenance page's own policy: nothing but its inline script and its inline style (each
 * allowed by its hash, never 'unsafe-inline'), and fetches of the site to see whether it is back.
 */
const pagePolicy = [
  "default-src 'none'",
  `script-src ${maintenanceScriptHash}`,
  `style-src ${pageStyleHash}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ');

export interface MaintenanceGateOptions {
  retryAfterSeconds?: number;
}

export function createMaintenanceGate(
  view: Pick<MaintenanceView, 'current' | 'isDown'>,
  options: MaintenanceGateOptions = {},
): RequestHandler {
  const retryAfter = options.retryAfterSeconds ?? RETRY_AFTER_SECONDS;
  return (req, res, next) => {
    if (!view.isDown()) return next();
    // Built assets are mounted before the gate; should that ever change, they still pass.
    if (req.path.startsWith('/assets/')) return next();
    res.setHeader('Retry-After', String(retryAfter));
    res.setHeader('Cache-Control', 'no-store');
    if (req.path === '/api' || req.path.startsWith('/api/')) {
      const body: ApiError = {
        error: { code: 'MAINTENANCE', message: `The site is down for maintenance; try again in ${retryAfter} seconds.` },
      };
      res.status(503).json(body);
      return;
    }
    const message = maintenancePageMessage(view.current().message);
    sendMaintenancePage(res.status(503), retryAfter, message);
  };
}

/**
 * The maintenance page (it reloads itself once the site answers again), with its own policy.
 * Also what a visitor's page request gets while the database is away.
 */
export function sendMaintenancePage(res: Response, retryAfterSeconds: number, message?: string): void {
  res.setHeader('Content-Security-Policy', pagePolicy);
  res.type('html').send(renderMaintenance({ retryAfterSeconds, ...(message ? { message } : {}) }));
}
