/**
 * What each ops write is called in the audit trail, and what it acted on. Paths are relative
 * to /ops. A write that matches no line (an unknown route, say) is still recorded, under its
 * method and path, so "every ops write is one row" holds without this table being complete.
 */
interface AuditAction {
  method: string;
  path: RegExp;
  action: string;
  /** What the write acted on, from the path's first group, the request body or the answer. */
  target?: (match: RegExpExecArray, body: Record<string, unknown>, answer: Record<string, unknown>) => unknown;
}

const fromPath = (match: RegExpExecArray) => decode(match[1] ?? '');

export const auditActions: readonly AuditAction[] = [
  {
    method: 'POST',
    path: /^\/api\/flashes$/,
    action: 'flash.push',
    target: (_m, body) => (typeof body.to === 'string' ? body.to : Array.isArray(asRecord(body.to).sessions) ? 'sessions' : undefined),
  },
  { method: 'POST', path: /^\/api\/promotions$/, action: 'promotion.create', target: (_m, _b, answer) => answer.id ?? undefined },
  { method: 'PATCH', path: /^\/api\/promotions\/([^/]+)$/, action: 'promotion.update', target: fromPath },
  { method: 'DELETE', path: /^\/api\/promotions\/([^/]+)$/, action: 'promotion.delete', target: fromPath },
  { method: 'POST', path: /^\/api\/jobs\/([^/]+)\/run$/, action: 'job.run', target: fromPath },
  { method: 'PUT', path: /^\/api\/jobs\/([^/]+)\/schedule$/, action: 'job.schedule', target: fromPath },
  { method: 'DELETE', path: /^\/api\/jobs\/([^/]+)\/schedule$/, action: 'job.unschedule', target: fromPath },
  { method: 'POST', path: /^\/api\/maintenance$/, action: 'maintenance.start' },
  { method: 'DELETE', path: /^\/api\/maintenance$/, action: 'maintenance.end' },
  { method: 'POST', path: /^\/api\/operators$/, action: 'operator.create', target: (_m, body) => body.name },
  { method: 'DELETE', path: /^\/api\/operators\/([^/]+)$/, action: 'operator.revoke', target: fromPath },
  // Agendash (jobs/job-routes.ts names the jobs an id-based write touched in res.locals).
  { method: 'POST', path: /^\/jobs\/api\/jobs\/(requeue|retry|delete|create|pause|resume)$/, action: 'agendash.' },
];

export interface DescribedWrite {
  action: string;
  target?: string;
}

/** The action and target of a write to `/ops<path>`. */
export function describeWrite(method: string, path: string, body: unknown, answer: unknown): DescribedWrite {
  for (const line of auditActions) {
    if (line.method !== method) continue;
    const match = line.path.exec(path);
    if (!match) continue;
    if (line.action === 'agendash.') return { action: `agendash.${match[1]}` };
    const target = line.target?.(match, asRecord(body), asRecord(answer));
    return target === undefined || target === null || target === ''
      ? { action: line.action }
      : { action: line.action, target: String(target) };
  }
  return { action: `${method} ${path}`.slice(0, 64) };
}

const SECRET_KEY = /token|secret|password|authorization|cookie/i;
const MAX_STRING = 200;
const MAX_ITEMS = 20;
const MAX_DEPTH = 3;

/**
 * A request body as the audit keeps it: strings cut to 200 characters, at most 20 keys or
 * items a level (with a count of what was left out), three levels deep, never a field whose
 * name says it is a secret. A few kilobytes at most, whatever was sent.
 */
export function boundParams(value: unknown, depth = 0): unknown {
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'string')
    return withoutNul(value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…(${value.length} chars)` : value);
  if (depth >= MAX_DEPTH) return '…';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((item) => boundParams(item, depth + 1));
    return value.length > MAX_ITEMS ? [...items, `…(${value.length} items)`] : items;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const out: Record<string, unknown> = {};
    for (const [key, item] of entries.slice(0, MAX_ITEMS)) {
      out[withoutNul(key.slice(0, 64))] = SECRET_KEY.test(key) ? '(hidden)' : boundParams(item, depth + 1);
    }
    if (entries.length > MAX_ITEMS) out['…'] = `${entries.length} keys`;
    return out;
  }
  return undefined;
}

/**
 * PostgreSQL's text and jsonb cannot hold U+0000, and a refused write may well carry one (a
 * NUL byte is a classic probe): it is kept visible as "\0" instead of failing the row.
 */
export const withoutNul = (value: string): string => value.replaceAll('\u0000', '\\0');

/** The audit result of an HTTP status. */
export function resultOf(status: number): 'ok' | 'refused' | 'invalid' | 'failed' {
  if (status < 400) return 'ok';
  if (status === 401 || status === 403 || status === 429) return 'refused';
  if (status < 500) return 'invalid';
  return 'failed';
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
