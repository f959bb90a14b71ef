import type { ErrorRequestHandler, RequestHandler } from 'express';
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
  return undefined;
}

export function createErrorHandler(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    const known = toAppError(error);
    if (!known) logger.error({ err: error, method: req.method, url: req.originalUrl }, 'request failed');
    const status = known?.status ?? 500;
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
