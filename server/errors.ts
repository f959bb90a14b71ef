/**
 * The catalogue of errors a client can see. Each has a stable code, an HTTP status and a
 * message that says what to do. Anything else that reaches the error handler is logged and
 * answered as INTERNAL, without its message, stack or SQL.
 */
export const errorCatalogue = {
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  UNKNOWN_SKU: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  CONFLICT: 409,
  /** A job that exists but is started some other way (the maintenance countdown has its own endpoint). */
  JOB_NOT_OPERABLE: 400,
  /** A job run now finished with a failure; the message carries its reason. */
  JOB_FAILED: 500,
  /** A job run now had not finished in time (no worker running, or a very long run). */
  JOB_TIMEOUT: 504,
  SESSION_GONE: 409,
  MAINTENANCE: 503,
  UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof errorCatalogue;

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AppError';
    this.status = errorCatalogue[code];
  }
}

export const validationFailed = (message: string) => new AppError('VALIDATION_FAILED', message);
export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} was not found`);
export const conflict = (message: string) => new AppError('CONFLICT', message);
