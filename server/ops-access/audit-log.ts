import type { z } from 'zod';
import type { auditEntry, auditQuery } from '../../protocol/ops-schemas.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import { withoutNul } from './audit-actions.ts';
import { errorSummary } from '../db/outage-log.ts';
import { isDatabaseUnavailable } from '../db/pool.ts';

export type AuditResult = 'ok' | 'refused' | 'invalid' | 'failed' | 'limited';

export interface AuditRecord {
  actor: string;
  role?: string | undefined;
  action: string;
  target?: string | undefined;
  params?: unknown;
  ip?: string | undefined;
  userAgent?: string | undefined;
  result: AuditResult;
  status?: number | undefined;
}

/** One entry as GET /ops/api/audit answers it (CONTRACT.md), newest first: its schema's type. */
export type AuditEntry = z.output<typeof auditEntry>;

/** GET /ops/api/audit's query, as parsed (protocol/ops-schemas.ts). */
export type AuditQuery = z.output<typeof auditQuery>;

export interface AuditLog {
  /** Writes one row. Never throws: a failed audit write is logged, the operation stands. */
  record(entry: AuditRecord): Promise<void>;
  /** Newest first; `next` is the `before` of the following page, absent on the last one. */
  list(query: AuditQuery): Promise<{ entries: AuditEntry[]; next?: number }>;
}

const clip = (value: string | undefined, max: number) => (value === undefined ? undefined : withoutNul(value.slice(0, max)));

export function createAuditLog(deps: { pool: Pool; logger: Logger }): AuditLog {
  const { pool, logger } = deps;
  return {
    async record(entry) {
      try {
        await pool.query(
          `INSERT INTO ops_audit (actor, role, action, target, params, ip, user_agent, result, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [
            clip(entry.actor, 64),
            entry.role ?? null,
            clip(entry.action, 64),
            clip(entry.target, 200) ?? null,
            entry.params === undefined ? null : JSON.stringify(entry.params),
            clip(entry.ip, 64) ?? null,
            clip(entry.userAgent, 300) ?? null,
            entry.result,
            entry.status ?? null,
          ],
        );
      } catch (error) {
        // While the database is away the write it records failed too (result 'failed'): a
        // warning without pg internals; anything else is a fault of ours, with its stack.
        const audit = { actor: entry.actor, action: entry.action, target: entry.target, result: entry.result };
        if (isDatabaseUnavailable(error))
          logger.warn({ error: errorSummary(error), audit }, 'could not write an audit row: the database is unavailable');
        else logger.error({ err: error, audit }, 'could not write an audit row');
      }
    },

    async list(query) {
      const prefix = query.action?.endsWith('.') ? query.action : undefined;
      const { rows } = await pool.query<{
        id: string;
        at: Date;
        actor: string;
        role: string | null;
        action: string;
        target: string | null;
        params: unknown;
        ip: string | null;
        user_agent: string | null;
        result: AuditResult;
        status: number | null;
      }>(
        // Each filter is "unset or equal", so one statement serves every combination; the
        // indexes on (actor, id) and (action, id) keep a filtered page a short index walk.
        `SELECT id, at, actor, role, action, target, params, ip, user_agent, result, status
           FROM ops_audit
          WHERE ($1::text IS NULL OR actor = $1)
            AND ($2::text IS NULL OR action = $2)
            AND ($3::text IS NULL OR starts_with(action, $3))
            AND ($4::text IS NULL OR result = $4)
            AND ($5::text IS NULL OR target = $5)
            AND ($6::timestamptz IS NULL OR at >= $6)
            AND ($7::timestamptz IS NULL OR at < $7)
            AND ($8::bigint IS NULL OR id < $8)
          ORDER BY id DESC
          LIMIT $9`,
        [
          query.actor ?? null,
          prefix ? null : (query.action ?? null),
          prefix ?? null,
          query.result ?? null,
          query.target ?? null,
          query.since ?? null,
          query.until ?? null,
          query.before ?? null,
          query.limit + 1,
        ],
      );
      const page = rows.slice(0, query.limit);
      const entries = page.map((row): AuditEntry => {
        const entry: AuditEntry = {
          id: Number(row.id),
          at: row.at.toISOString(),
          actor: row.actor,
          action: row.action,
          result: row.result,
        };
        if (row.role !== null) entry.role = row.role;
        if (row.target !== null) entry.target = row.target;
        if (row.params !== null) entry.params = row.params;
        if (row.ip !== null) entry.ip = row.ip;
        if (row.user_agent !== null) entry.userAgent = row.user_agent;
        if (row.status !== null) entry.status = row.status;
        return entry;
      });
      return rows.length > query.limit ? { entries, next: entries[entries.length - 1]!.id } : { entries };
    },
  };
}
