import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import { isDatabaseUnavailable } from '../db/pool.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ApiError } from '../../protocol/events.ts';

function toAppError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  // body-parser's errors carry a `type`; they are the client's fault, not ours.
  const type = (error as { type?: unknown })?.type;
  if (type === 'entity.parse.failed') return new AppError('INVALID_JSON', 'The request body is not valid JSON.');
  if (type === 'entity.too.large') return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
  if (typeof type === 'string' && type.startsWith('encoding.') || type === 'charset.unsupported') {
    return new AppError('VALIDATION_FAILED', 'The request body encoding is not supported; send UTF-8 JSON.');
  }
  // A foreign-key failure on a session means it was destroyed while the request ran.
  const pgError = error as { code?: unknown; constraint?: unknown };
  if (pgError?.code === '23503' && String(pgError.constraint ?? '').includes('session_sid')) {
    return new AppError('SESSION_GONE', 'Your session ended while the request ran; reload the page.');
  }
  if (isDatabaseUnavailable(error)) {
    return new AppError('UNAVAILABLE', `We cannot reach our database for a moment; try again in ${UNAVAILABLE_RETRY_SECONDS} seconds.`);
  }
  return undefined;
}

/** What Retry-After says while the database is away: a restart or a failover takes seconds. */
export const UNAVAILABLE_RETRY_SECONDS = 5;

export interface ErrorHandlerOptions {
  /** The HTML page a visitor's page request gets when the database is away (503). */
  sendUnavailablePage?: (res: Response, retryAfterSeconds: number) => void;
}

export function createErrorHandler(logger: Logger, options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const known = toAppError(error);
    if (!known) logger.error({ err: error, method: req.method, url: req.originalUrl }, 'request failed');
    const status = known?.status ?? 500;
    if (known?.code === 'UNAVAILABLE' && !res.headersSent) {
      // The outage itself is logged once, by the database health check.
      logger.debug({ method: req.method, url: req.originalUrl }, 'answered 503: the database is unavailable');
      res.setHeader('Retry-After', String(UNAVAILABLE_RETRY_SECONDS));
      res.setHeader('Cache-Control', 'no-store');
      const wantsPage = req.method === 'GET' && !req.path.startsWith('/api/') && req.accepts(['json', 'html']) === 'html';
      if (wantsPage && options.sendUnavailablePage) {
        options.sendUnavailablePage(res.status(503), UNAVAILABLE_RETRY_SECONDS);
        return;
      }
    }
    const body: ApiError = {
      error: known
        ? { code: known.code, message: known.message }
        : { code: 'INTERNAL', message: 'Something went wrong on our side; try again.' },
    };
    if (res.headersSent) return;
    res.status(status).json(body);
  };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  const body: ApiError = { error: { code: 'NOT_FOUND', message: `No route for ${req.method} ${req.path}` } };
  res.status(404).json(body);
};
