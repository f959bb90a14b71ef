import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import { isDatabaseUnavailable } from '../db/pool.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { ApiError } from '../../protocol/events.ts';

/**
 * The errors that are the client's fault, as our catalogue names them. Each becomes a 4xx and a
 * debug line, never a 500 with a stack: a scanner sending broken URLs or bodies must not be
 * able to fill the error log.
 */
function toAppError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  const { type, status, expose, code } = (error ?? {}) as { type?: unknown; status?: unknown; expose?: unknown; code?: unknown };
  // body-parser's errors carry a `type`; they are the client's fault, not ours.
  if (type === 'entity.parse.failed') return new AppError('INVALID_JSON', 'The request body is not valid JSON.');
  if (type === 'entity.too.large') return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new AppError(
      'UNSUPPORTED_ENCODING',
      'The request body encoding is not supported; send UTF-8 JSON, uncompressed or gzip, deflate or br.',
    );
  }
  // The router's decoding of a path parameter (`/products/%E0%A4%A`).
  if (error instanceof URIError && status === 400) {
    return new AppError('MALFORMED_URL', 'The URL holds broken percent-encoding; check the link.');
  }
  // PostgreSQL refuses NUL bytes in text and jsonb. Input is checked before it gets this far
  // (parseInput); this keeps a text field that escaped the check a 400 all the same.
  if (code === '22021' || code === '22P05') {
    return new AppError('VALIDATION_FAILED', 'The request holds a character that cannot be stored (a NUL byte); remove it.');
  }
  // Any other error that http-errors marks as the client's (a body that does not decompress:
  // zlib's "incorrect header check" as a 400): its status, our shape, a fixed message.
  if (expose === true && typeof status === 'number' && status >= 400 && status < 500) {
    if (status === 413) return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large.');
    if (status === 415) return new AppError('UNSUPPORTED_ENCODING', 'The request body encoding is not supported; send UTF-8 JSON.');
    return new AppError('BAD_REQUEST', 'The request could not be read; check its body and its Content-Encoding.');
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
  /** The short HTML page a visitor's page request gets when it is refused with a 429. */
  sendTooManyRequestsPage?: (res: Response, retryAfterSeconds: number) => void;
}

/** A GET of a page (not /api, not a JSON client): it gets HTML, even for an error. */
const wantsPage = (req: Request): boolean =>
  req.method === 'GET' && !req.path.startsWith('/api/') && req.accepts(['json', 'html']) === 'html';

export function createErrorHandler(logger: Logger, options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const known = toAppError(error);
    if (!known) logger.error({ err: error, method: req.method, url: req.originalUrl }, 'request failed');
    else if (known.code !== 'UNAVAILABLE') {
      // The client's doing (or a refusal by design): worth a line when debugging, not an alarm.
      logger.debug({ code: known.code, status: known.status, method: req.method, url: req.originalUrl }, 'request refused');
    }
    const status = known?.status ?? 500;
    if (known?.retryAfterSeconds !== undefined && !res.headersSent) {
      res.setHeader('Retry-After', String(known.retryAfterSeconds));
      res.setHeader('Cache-Control', 'no-store');
      if (known.status === 429 && options.sendTooManyRequestsPage && wantsPage(req)) {
        options.sendTooManyRequestsPage(res.status(429), known.retryAfterSeconds);
        return;
      }
    }
    if (known?.code === 'UNAVAILABLE' && !res.headersSent) {
      // The outage itself is logged once, by the database health check.
      logger.debug({ method: req.method, url: req.originalUrl }, 'answered 503: the database is unavailable');
      res.setHeader('Retry-After', String(UNAVAILABLE_RETRY_SECONDS));
      res.setHeader('Cache-Control', 'no-store');
      if (wantsPage(req) && options.sendUnavailablePage) {
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
