import { z } from 'zod';

/**
 * The one place that reads configuration. Every setting of CONTRACT.md is declared here with
 * its default and meaning; `loadConfig` validates the environment once, at start, and returns
 * a frozen object. Nothing else reads `process.env`.
 */

/**
 * DATABASE_POOL_MAX's default: four web processes and two workers hold 6 × 15 = 90
 * connections, inside PostgreSQL's default max_connections of 100 less its 3 reserved for
 * superusers. README "Connections" has the budget per role.
 */
export const DEFAULT_POOL_MAX = 15;
export const MIN_POOL_MAX = 6;

/**
 * SESSION_RATE_LIMIT's default: new sessions a minute from one client address (an IPv6
 * client's /64). One a second, with a burst of as many, is more than a household or an office
 * behind one address starts; a flood from one address stores at most this many trial sessions
 * a minute (README "Visitor abuse"). Each web process counts on its own.
 */
export const DEFAULT_SESSION_RATE_LIMIT = 60;

const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000).describe('HTTP port'),
  HOST: z.string().min(1).default('127.0.0.1').describe('address to listen on'),
  METRICS_PORT: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .optional()
    .describe('when set, /metrics (without the ops token), /healthz and /readyz are also served on this port, on HOST'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional()
    .describe('PostgreSQL to use; unset starts an embedded PostgreSQL under DATA_DIR'),
  DATA_DIR: z.string().min(1).default('.data').describe('embedded PostgreSQL data and dev secrets'),
  SESSION_SECRET: commaList
    .pipe(z.array(z.string().min(16, 'each secret must be at least 16 characters')).min(1))
    .optional()
    .describe('cookie signing secrets, newest first, comma-separated for rotation'),
  SESSION_TTL_SECONDS: z.coerce.number().int().min(1).default(86400).describe('idle lifetime of a session'),
  SESSION_RATE_LIMIT: z.coerce
    .number()
    .int('must be a whole number of sessions a minute')
    .min(0, 'must be 0 (no limit) or more')
    .max(1_000_000)
    .default(DEFAULT_SESSION_RATE_LIMIT)
    .describe('new sessions a minute from one client address; 0 turns the limit off (load tests, benchmarks)'),
  OPS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional().describe('bearer token of the ops API'),
  ALLOWED_ORIGINS: commaList
    .pipe(z.array(z.url('each origin must be a URL such as https://shop.example')))
    .optional()
    .describe('origins allowed to open a socket; unset: the request host only'),
  ROLE: z.enum(['all', 'web', 'worker']).default('all').describe('what this process runs'),
  MONGODB_URL: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must be a mongodb:// or mongodb+srv:// URL')
    .optional()
    .describe("store Agenda's jobs in MongoDB instead of PostgreSQL"),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_POOL_MAX: z.coerce
    .number()
    .int()
    .min(MIN_POOL_MAX, `must be at least ${MIN_POOL_MAX}: a web process holds 3 LISTEN connections and needs room for queries`)
    .max(1000)
    .default(DEFAULT_POOL_MAX)
    .describe('the most PostgreSQL connections one process holds, LISTEN connections included'),
  // A test hook, refused outside NODE_ENV=test: shifts this process's own clock, as a machine
  // whose clock is wrong would, to show that deadlines are kept on the database's clock.
  FLASHCAST_TEST_CLOCK_SKEW_MS: z.coerce.number().int().min(-3_600_000).max(3_600_000).optional(),
});

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host: string;
  /** METRICS_PORT: a second HTTP server for /metrics, /healthz and /readyz; unset: none. */
  readonly metricsPort: number | undefined;
  readonly databaseUrl: string | undefined;
  readonly dataDir: string;
  /** Set by the entry point from the environment or from DATA_DIR's generated secrets. */
  readonly sessionSecrets: readonly string[] | undefined;
  readonly sessionTtlSeconds: number;
  /** SESSION_RATE_LIMIT: new sessions a minute from one client address; 0: no limit. */
  readonly sessionRateLimit: number;
  readonly opsToken: string | undefined;
  readonly allowedOrigins: readonly string[] | undefined;
  readonly role: 'all' | 'web' | 'worker';
  readonly mongodbUrl: string | undefined;
  readonly logLevel: string;
  /** DATABASE_POOL_MAX: every connection of this process, its LISTEN connections included. */
  readonly databasePoolMax: number;
  /** Test hook only (NODE_ENV=test): how far this process's clock is off, in ms. */
  readonly testClockSkewMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Empty strings count as unset, so `PORT= npm start` means the default, not an error. */
function withoutEmpty(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') out[name] = value;
  }
  return out;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(withoutEmpty(env));
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const [name, ...rest] = issue.path;
        const where = rest.length > 0 ? ` (item ${Number(rest[0]) + 1})` : '';
        return `${String(name ?? '(environment)')}: ${issue.message}${where}`;
      }),
    );
  }
  const e = parsed.data;
  const problems: string[] = [];
  if (e.NODE_ENV === 'production') {
    if (!e.SESSION_SECRET) problems.push('SESSION_SECRET: required when NODE_ENV=production');
    if (!e.OPS_TOKEN) problems.push('OPS_TOKEN: required when NODE_ENV=production');
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT !== 0 && e.METRICS_PORT === e.PORT && e.ROLE !== 'worker') {
    problems.push(`METRICS_PORT: must differ from PORT (${e.PORT}), which serves the site`);
  }
  if (e.FLASHCAST_TEST_CLOCK_SKEW_MS !== undefined && e.NODE_ENV !== 'test') {
    problems.push('FLASHCAST_TEST_CLOCK_SKEW_MS: a test hook, accepted only with NODE_ENV=test');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    metricsPort: e.METRICS_PORT,
    databaseUrl: e.DATABASE_URL,
    dataDir: e.DATA_DIR,
    sessionSecrets: e.SESSION_SECRET ? Object.freeze([...e.SESSION_SECRET]) : undefined,
    sessionTtlSeconds: e.SESSION_TTL_SECONDS,
    sessionRateLimit: e.SESSION_RATE_LIMIT,
    opsToken: e.OPS_TOKEN,
    allowedOrigins: e.ALLOWED_ORIGINS ? Object.freeze([...e.ALLOWED_ORIGINS]) : undefined,
    role: e.ROLE,
    mongodbUrl: e.MONGODB_URL,
    logLevel: e.LOG_LEVEL,
    databasePoolMax: e.DATABASE_POOL_MAX,
    testClockSkewMs: e.FLASHCAST_TEST_CLOCK_SKEW_MS ?? 0,
  });
}

const cliSchema = z.object({
  FLASHCAST_URL: z.url('must be a URL such as http://127.0.0.1:3000').optional(),
  PORT: schema.shape.PORT,
  HOST: schema.shape.HOST,
  OPS_TOKEN: schema.shape.OPS_TOKEN,
  DATA_DIR: schema.shape.DATA_DIR,
});

export interface CliConfig {
  /** The running flashcast the CLI talks to: FLASHCAST_URL, else http://HOST:PORT. */
  readonly url: string;
  readonly opsToken: string | undefined;
  readonly dataDir: string;
}

/** The ops CLI's settings, from the same environment names as the server's. */
export function loadCliConfig(env: Record<string, string | undefined> = process.env): CliConfig {
  const parsed = cliSchema.safeParse(withoutEmpty(env));
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${String(issue.path[0])}: ${issue.message}`));
  }
  const e = parsed.data;
  const host = e.HOST === '0.0.0.0' || e.HOST === '::' ? '127.0.0.1' : e.HOST;
  return Object.freeze({
    url: e.FLASHCAST_URL ?? `http://${host.includes(':') ? `[${host}]` : host}:${e.PORT}`,
    opsToken: e.OPS_TOKEN,
    dataDir: e.DATA_DIR,
  });
}
