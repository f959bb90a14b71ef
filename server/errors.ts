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
  /** An ops write whose body is not JSON (a form post, text/plain). */
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHORIZED: 401,
  /** Authenticated, but this role may not do it; or a cross-site write under /ops. */
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  /** Too many refused sign-ins from one address; Retry-After says when to try again. */
  TOO_MANY_REQUESTS: 429,
  /** A job that exists but is started some other way (the maintenance countdown has its own endpoint). */
  JOB_NOT_OPERABLE: 400,
  /** A job run now finished with a failure; the message carries its reason. */
  JOB_FAILED: 500,
  /** A job run now had not finished in time (no worker running, or a very long run). */
  JOB_TIMEOUT: 504,
  SESSION_GONE: 409,
  /** The request's URL holds broken percent-encoding (`/products/%E0%A4%A`). */
  MALFORMED_URL: 400,
  /** A body whose Content-Encoding or charset we do not read (only identity, gzip, deflate, br; UTF-8). */
  UNSUPPORTED_ENCODING: 415,
  /** Any other request the HTTP layer could not read (a body that does not decompress, say). */
  BAD_REQUEST: 400,
  /** SESSION_RATE_LIMIT: too many new sessions from one address; Retry-After says when to try again. */
  TOO_MANY_SESSIONS: 429,
  /** Production keeps sessions over HTTPS only; a plain-HTTP request cannot be given one. */
  HTTPS_REQUIRED: 403,
  MAINTENANCE: 503,
  UNAVAILABLE: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof errorCatalogue;

export class AppError extends Error {
  readonly status: number;
  /** Sent as Retry-After (a 429 or a 503 that knows when to come back). */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.name = 'AppError';
    this.status = errorCatalogue[code];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export const validationFailed = (message: string) => new AppError('VALIDATION_FAILED', message);
export const notFound = (what: string) => new AppError('NOT_FOUND', `${what} was not found`);
export const conflict = (message: string) => new AppError('CONFLICT', message);
