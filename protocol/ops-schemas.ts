import { z } from 'zod';

/**
 * The bodies of the ops API (CONTRACT.md, "Ops HTTP"), declared once: the server validates
 * requests with them, the route table (ops-api.ts) documents them as OpenAPI, the tests parse
 * every answer with them, and the client (ops-client.ts) takes its types from them.
 *
 * Request schemas carry the messages a 400 shows, so they say how to fix the input. Most request
 * objects are strict: a misspelt field (`call_to_action`) is a 400 that names it rather than a
 * silently ignored value (flashes and maintenance have always ignored extra fields, and still do). Response schemas are plain objects: a client may meet fields added
 * later and must ignore them (the tests check that none goes undocumented).
 *
 * Server-only code stays out: this module imports nothing but zod, and the browser imports it
 * for types alone (test/unit/boundaries.test.ts).
 */

/** The bootstrap administrator (OPS_TOKEN): an actor with no operator row of its own. */
export const ADMIN_ACTOR = 'admin';
/** The actor of refused authentications: nobody we could name. */
export const ANONYMOUS_ACTOR = 'anonymous';

export const DEFAULT_COUNTDOWN_SECONDS = 30;
export const MAX_COUNTDOWN_SECONDS = 3600;
export const MAX_MAINTENANCE_MESSAGE_LENGTH = 500;
export const MAX_TARGET_SESSIONS = 1000;
export const MAX_AUDIT_PAGE = 200;

const isoTime = (error: string) => z.iso.datetime({ offset: true, error });
/** A time the server writes: always ISO 8601 (Date#toISOString). */
const timestamp = z.string().describe('an ISO 8601 time');

// --- errors -------------------------------------------------------------------------------

/** Every failure under /ops/api: a stable code and a message that says what to do. */
export const errorResponse = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .meta({ id: 'Error', description: 'Bad input is 400, missing credentials 401, a refused role 403, and so on.' });

// --- ops access -----------------------------------------------------------------------------

export const opsRole = z.enum(['viewer', 'operator', 'admin']);
export const operatorRole = z.enum(['viewer', 'operator'], {
  error: 'must be "viewer" (reads) or "operator" (reads and writes)',
});

export const signInRequest = z.strictObject({
  token: z.string({ error: 'must be the ops token' }).min(1, 'must be the ops token').max(256),
});
export const signInResponse = z.object({ actor: z.string(), role: opsRole, idleSeconds: z.number().int() });
export const signOutResponse = z.object({ signedOut: z.boolean() });
export const whoAmIResponse = z.object({ actor: z.string(), role: opsRole, via: z.enum(['token', 'session']) });

export const operatorName = z
  .string({ error: 'must be a name such as "alice"' })
  .regex(/^[a-z][a-z0-9._-]{0,31}$/, 'must start with a lower-case letter, then up to 31 of a-z, 0-9, ".", "_", "-"')
  .refine((name) => name !== ADMIN_ACTOR && name !== ANONYMOUS_ACTOR, 'is reserved; choose another name');

export const createOperatorRequest = z.strictObject({ name: operatorName, role: operatorRole });
export const operatorParams = z.object({ name: operatorName });

export const operator = z
  .object({
    name: z.string(),
    role: operatorRole,
    createdAt: timestamp,
    createdBy: z.string(),
    revokedAt: timestamp.nullable().describe('set once revoked: the token no longer works and its sessions have ended'),
  })
  .meta({ id: 'Operator' });
export const operatorsResponse = z.object({ operators: z.array(operator) });
export const createdOperatorResponse = operator.extend({
  token: z.string().describe("the operator's token: shown this once, never again"),
});

export const auditResult = z.enum(['ok', 'refused', 'invalid', 'failed', 'limited']);

/** GET /ops/api/audit's query: filters, and `before` (an entry id) to page back. */
export const auditQuery = z.strictObject({
  actor: z.string().max(64).optional(),
  action: z.string().max(64).optional().describe('an action, or a prefix ending in "." such as "promotion."'),
  result: auditResult.optional(),
  target: z.string().max(200).optional(),
  since: isoTime('must be an ISO time').optional(),
  until: isoTime('must be an ISO time').optional(),
  before: z.coerce.number().int().min(1).optional().describe('the `next` of the previous page'),
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(50),
});

export const auditEntry = z
  .object({
    id: z.number().int(),
    at: timestamp,
    actor: z.string(),
    role: z.string().optional(),
    action: z.string(),
    target: z.string().optional(),
    params: z.unknown().optional(),
    ip: z.string().optional(),
    userAgent: z.string().optional(),
    result: auditResult,
    status: z.number().int().optional(),
  })
  .meta({ id: 'AuditEntry' });
export const auditResponse = z.object({
  entries: z.array(auditEntry).describe('newest first'),
  next: z.number().int().optional().describe('pass as `before` for the next page; absent on the last one'),
});

// --- sessions, flashes, presence --------------------------------------------------------------

export const flashKey = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1 to 32 letters, digits, "_" or "-"');
export const flashMessage = z.string().trim().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters');

export const pushFlashRequest = z.object({
  to: z.union(
    [
      z.literal('active'),
      z.literal('all'),
      z.object({
        sessions: z.array(z.string().min(1).max(128)).min(1).max(MAX_TARGET_SESSIONS, `at most ${MAX_TARGET_SESSIONS} sessions`),
      }),
    ],
    { error: 'must be "active", "all" or {"sessions": [session keys]}' },
  ),
  key: flashKey,
  message: flashMessage,
});

export const flash = z
  .object({
    id: z.string(),
    key: z.string(),
    message: z.string(),
    data: z.record(z.string(), z.unknown()).optional(),
    createdAt: timestamp,
  })
  .meta({ id: 'Flash' });
export const pushFlashResponse = z.object({
  sessions: z.number().int().describe('how many sessions the flash was written to'),
  flash,
});

export const sessionStatsResponse = z.object({
  total: z.number().int(),
  expired: z.number().int(),
  active: z.number().int(),
  carts: z.number().int(),
});
export const presenceResponse = z.object({ activeSessions: z.number().int(), sockets: z.number().int() });

// --- promotions ------------------------------------------------------------------------------

/** A site path ("/sale") or an http(s) URL. Not "//host" (another site) or javascript: links. */
export const promotionUrl = z
  .string()
  .trim()
  .max(2000, 'must be at most 2000 characters')
  .refine((value) => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what a URL must not hold
    if (/[\s\u0000-\u001f\\]/.test(value)) return false;
    if (value.startsWith('/')) return !value.startsWith('//');
    try {
      const url = new URL(value);
      return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
    } catch {
      return false;
    }
  }, 'must be a path on this site ("/sale") or an http(s) URL ("https://shop.example/sale")');

const promotionTime = isoTime('must be an ISO time such as 2030-01-31T12:00:00Z');

const promotionFields = {
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  // The promotion flash's message (CONTRACT.md): a flash message's limits.
  callToAction: z.string().trim().min(1, 'must not be empty').max(1000, 'must be at most 1000 characters'),
  url: promotionUrl.nullable(),
  active: z.boolean({ error: 'must be true or false' }),
  startsAt: promotionTime.nullable(),
  endsAt: promotionTime.nullable(),
  weight: z
    .number({ error: 'must be a number' })
    .positive('must be greater than 0')
    .max(1_000_000, 'must be at most 1,000,000')
    .refine(Number.isFinite, 'must be a finite number'),
};

const windowInOrder = (value: { startsAt?: string | null | undefined; endsAt?: string | null | undefined }) =>
  !value.startsAt || !value.endsAt || Date.parse(value.endsAt) > Date.parse(value.startsAt);
const windowMessage = { message: 'must be after startsAt', path: ['endsAt'] };

export const createPromotionRequest = z
  .strictObject({
    name: promotionFields.name,
    callToAction: promotionFields.callToAction,
    url: promotionFields.url.optional(),
    active: promotionFields.active.default(true),
    startsAt: promotionFields.startsAt.optional(),
    endsAt: promotionFields.endsAt.optional(),
    weight: promotionFields.weight.default(1),
  })
  .refine(windowInOrder, windowMessage);

/** A PATCH: any of the fields; `null` clears url, startsAt or endsAt. */
export const updatePromotionRequest = z
  .strictObject({
    name: promotionFields.name.optional(),
    callToAction: promotionFields.callToAction.optional(),
    url: promotionFields.url.optional(),
    active: promotionFields.active.optional(),
    startsAt: promotionFields.startsAt.optional(),
    endsAt: promotionFields.endsAt.optional(),
    weight: promotionFields.weight.optional(),
  })
  .refine((value) => Object.keys(value).length > 0, 'send at least one field to change')
  .refine(windowInOrder, windowMessage);

export type CreatePromotionInput = z.output<typeof createPromotionRequest>;
export type UpdatePromotionInput = z.output<typeof updatePromotionRequest>;

/** Path ids that can name a promotion (a PostgreSQL integer); anything else names none: 404. */
export const promotionParams = z.object({
  id: z.string().regex(/^[1-9]\d{0,9}$/, 'must be a promotion id'),
});

export const promotion = z
  .object({
    id: z.number().int(),
    name: z.string(),
    callToAction: z.string(),
    url: z.string().nullable(),
    active: z.boolean(),
    startsAt: timestamp.nullable(),
    endsAt: timestamp.nullable(),
    weight: z.number(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Promotion' });
export const promotionsResponse = z.object({ promotions: z.array(promotion) });
export const deletedPromotionResponse = z.object({ deleted: z.number().int() });
export const promotionStatsResponse = z.object({
  delivered: z.number().int(),
  displayed: z.number().int(),
  clicked: z.number().int(),
  dismissed: z.number().int(),
});

// --- jobs ------------------------------------------------------------------------------------

export const jobParams = z.object({ name: z.string().describe('a job name such as "promotion-round" or "session-cleanup"') });
export const scheduleRequest = z.strictObject({
  every: z.string({ error: 'must be an interval such as "1 minute", or a cron expression' }),
});

export const jobInfo = z
  .object({
    name: z.string(),
    operable: z.boolean().describe('false for jobs started some other way (the countdown): no run-now, no schedule'),
    every: z.string().nullable().describe('the repeating schedule ("1 minute", a cron expression); null when it does not repeat'),
    nextRunAt: timestamp.nullable(),
    lastRunAt: timestamp.nullable(),
    lastFinishedAt: timestamp.nullable(),
    failReason: z.string().nullable().describe('why the latest finished run failed; null when it succeeded'),
    running: z.boolean(),
    lastResult: z.unknown().describe('what the latest successful run returned'),
    lastResultAt: timestamp.nullable(),
  })
  .meta({ id: 'JobInfo' });
export const jobsResponse = z.object({ jobs: z.array(jobInfo) });
export const jobRunResponse = z.object({
  name: z.string(),
  jobId: z.string(),
  result: z.unknown().describe("what the run returned (the job's own summary)"),
});

// --- maintenance ---------------------------------------------------------------------------

export const maintenanceState = z.enum(['idle', 'countdown', 'active']);

export const startMaintenanceRequest = z.object({
  seconds: z
    .number({ error: 'must be a number of seconds' })
    .int('must be a whole number of seconds')
    .min(1, 'must be at least 1')
    .max(MAX_COUNTDOWN_SECONDS, `must be at most ${MAX_COUNTDOWN_SECONDS} (one hour)`)
    .default(DEFAULT_COUNTDOWN_SECONDS),
  message: z
    .string({ error: 'must be a string' })
    .trim()
    .min(1, 'must not be empty')
    .max(MAX_MAINTENANCE_MESSAGE_LENGTH, `must be at most ${MAX_MAINTENANCE_MESSAGE_LENGTH} characters`)
    .optional(),
});

export const maintenanceStatus = z
  .object({
    state: maintenanceState,
    deadline: timestamp.optional().describe('countdown: when it ends; active: when maintenance began'),
    secondsLeft: z.number().int().optional().describe('countdown only'),
    message: z.string().optional(),
    startedAt: timestamp.optional(),
  })
  .meta({ id: 'MaintenanceStatus' });
export const cancelMaintenanceResponse = maintenanceStatus.extend({
  previous: maintenanceState.describe('what was cancelled: a countdown, maintenance, or nothing (idle)'),
});

// --- the document itself -------------------------------------------------------------------

export const openApiDocument = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});
