import type { IncomingMessage } from 'node:http';

/**
 * Which origins may open a socket (ALLOWED_ORIGINS, CONTRACT.md). Socket.IO's websocket is
 * not covered by CORS, so without this check any site a visitor opens could open a socket
 * with the visitor's cookie and read their flashes (cross-site websocket hijacking).
 *
 * - A listed origin is allowed; with no list, the origin whose host is the request's Host
 *   header (so http://127.0.0.1:3000 and http://localhost:3000 both work locally).
 * - A request with no Origin header is allowed: browsers send one on every websocket and
 *   every cross-origin request, and leave it out only on same-origin GETs (a polling
 *   handshake); a non-browser client can send any Origin anyway, so refusing it protects
 *   nobody. `Origin: null` (sandboxed frames, file: pages) is refused.
 */
export function createOriginCheck(allowedOrigins?: readonly string[]): (req: IncomingMessage) => boolean {
  const allowed = allowedOrigins ? new Set(allowedOrigins.map(normalizeOrigin).filter((o): o is string => o !== undefined)) : undefined;
  return (req) => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    const normalized = normalizeOrigin(origin);
    if (normalized === undefined) return false;
    if (allowed) return allowed.has(normalized);
    return sameHost(normalized, req.headers.host);
  };
}

/** `https://Shop.Example:443/` → `https://shop.example`; undefined when it is not an http(s) origin. */
function normalizeOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/** Compares as URLs, so `Host: shop.example:80` equals the origin `http://shop.example`. */
function sameHost(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  const { protocol, host: originHost } = new URL(origin);
  try {
    return new URL(`${protocol}//${host}`).host === originHost;
  } catch {
    return false;
  }
}
