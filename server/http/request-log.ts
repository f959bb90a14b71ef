import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';

/** Probes a load balancer or Prometheus calls every few seconds: measured, never logged. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/** An X-Request-Id a proxy in front may already have given the request; anything else is replaced. */
const REQUEST_ID = /^[\w.:-]{1,64}$/;

/**
 * The route pattern a request matched (`/products/:sku`, `/ops/api/promotions/:id`), never
 * the raw URL: a label per visited sku, or per scanner's guess, would grow without bound.
 * Requests no route took are `unmatched`; static files are their mount point (`/assets`).
 */
export function routeOf(req: Request): string {
  const pattern = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof pattern === 'string') return `${req.baseUrl}${pattern === '/' && req.baseUrl ? '' : pattern}`;
  return req.baseUrl || 'unmatched';
}

/**
 * One log line per request when it ends (pino-http): request id (also sent back as
 * X-Request-Id), method, URL, client address, route, status and duration. No header is
 * logged, so neither cookies nor the Authorization header (sessions, ops tokens) ever reach
 * the log; the redaction below stays as a guard. Probes are not logged.
 */
export function createRequestLog(logger: Logger): RequestHandler {
  const withRoute = (req: IncomingMessage, _res: ServerResponse, fields: object) => ({ ...fields, route: routeOf(req as Request) });
  return pinoHttp({
    logger,
    genReqId(req, res) {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    // What a request line needs, and no headers at all: none of them (cookies, tokens, the
    // security headers we send every time) is worth a kilobyte per request in the log.
    serializers: {
      req: (req: { id?: unknown; method?: string; url?: string; remoteAddress?: string }) => ({
        id: req.id,
        method: req.method,
        url: req.url,
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
    },
    redact: { paths: ['req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    // A 503 is an outage or maintenance, told once elsewhere: one line per request at warn.
    customLogLevel: (_req, res, error) => (res.statusCode === 503 ? 'warn' : error || res.statusCode >= 500 ? 'error' : 'info'),
    customSuccessObject: withRoute,
    // pino-http makes up an Error ("failed with status code 503") for any 5xx that no handler
    // threw: a stack of its own internals on every maintenance page. Only a real error is kept.
    customErrorObject: (req, res, error, fields) => {
      const { err: _made, ...rest } = fields as { err?: unknown };
      return withRoute(req, res, /^failed with status code \d+$/.test(error?.message ?? '') ? rest : fields);
    },
    autoLogging: { ignore: (req) => PROBES.has((req.url ?? '').split('?')[0]!) },
    // The request logger (req.log) carries the request id only; the line at the end has the rest.
    quietReqLogger: true,
  }) as unknown as RequestHandler;
}

/** Observes each finished request's duration by method, route pattern and status. */
export function measureRequests(metrics: Pick<Metrics, 'httpRequestSeconds'>): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    res.once('finish', () => {
      metrics.httpRequestSeconds.observe(
        { method: req.method, route: routeOf(req), status: String(res.statusCode) },
        (performance.now() - started) / 1000,
      );
    });
    next();
  };
}
