import type { Request, RequestHandler } from 'express';
import { AppError } from '../errors.ts';

export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * No cross-site writes under /ops (CONTRACT.md). A browser says where a request comes from:
 * `Sec-Fetch-Site` (every current browser) and `Origin` (on every non-GET request). A write
 * that says "another origin" is refused whatever credentials it carries; "same-site" is
 * refused too, since another port or sub-domain of ours is another origin (a page on
 * 127.0.0.1:8080 is same-site with 127.0.0.1:3000 and gets its SameSite=Strict cookies).
 *
 * Writes also take JSON bodies only: an HTML form can send urlencoded, multipart and
 * text/plain bodies cross-site without a CORS preflight, never application/json. So a form
 * post is refused here (415) even if an old browser sent no origin headers at all.
 *
 * A request with neither header is not a browser's (the CLI, curl, scripts): it is let through
 * to authentication; a cookie-only write without them is refused there (ops-access/ops-auth.ts).
 */
export const refuseCrossSiteWrites: RequestHandler = (req, _res, next) => {
  if (SAFE_METHODS.has(req.method)) return next();
  const site = req.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return next(new AppError('FORBIDDEN', `A ${site} request cannot change anything under /ops; use the ops console on this site.`));
  }
  const origin = req.get('origin');
  if (origin !== undefined && !isOwnOrigin(origin, req)) {
    return next(
      new AppError('FORBIDDEN', 'A request from another origin cannot change anything under /ops; use the ops console on this site.'),
    );
  }
  const contentType = req.get('content-type');
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if ((contentType !== undefined || hasBody) && !req.is('application/json')) {
    return next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Ops writes take a JSON body: send "Content-Type: application/json".'));
  }
  next();
};

/** Whether the browser-sent origin proves a same-origin request (for cookie-only writes). */
export const sentFromOwnOrigin = (req: Request): boolean => {
  const origin = req.get('origin');
  if (origin !== undefined) return isOwnOrigin(origin, req);
  return req.get('sec-fetch-site') === 'same-origin';
};

/** The Origin names this server's own host (Host, or X-Forwarded-Host behind a trusted proxy). */
function isOwnOrigin(origin: string, req: Request): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // "null" and anything else that is not an origin
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const host = req.host;
  if (!host) return false;
  try {
    return new URL(`${url.protocol}//${host}`).host === url.host;
  } catch {
    return false;
  }
}
