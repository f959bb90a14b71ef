import type { RequestHandler, Response } from 'express';
import type { AuditLog } from './audit-log.ts';
import { boundParams, describeWrite, resultOf } from './audit-actions.ts';
import { SAFE_METHODS } from '../http/cross-site-guard.ts';
import { principalOf } from './ops-auth.ts';

/** A route that knows better what it acted on (Agendash's job ids → job names) says so here. */
export function setAuditTarget(res: Response, target: string): void {
  res.locals.auditTarget = target;
}

/**
 * One audit row for every ops write that got past authentication, whatever its outcome
 * (refused for the role, invalid, failed, done). The response is held until the row is
 * written, so a client that saw the answer finds the row: "wrote, then read the audit" works
 * from the CLI and in tests without polling. Mount behind authenticate.
 */
export function auditWrites(audit: AuditLog): RequestHandler {
  return (req, res, next) => {
    if (SAFE_METHODS.has(req.method)) return next();
    const principal = principalOf(res);
    let answer: unknown;
    const json = res.json;
    res.json = function (this: Response, body: unknown) {
      answer = body;
      return json.call(this, body);
    };
    const end = res.end;
    let recorded = false;
    res.end = function (this: Response, ...args: unknown[]) {
      if (recorded) return (end as (...a: unknown[]) => Response).apply(this, args);
      recorded = true;
      const path = req.originalUrl.split('?')[0]!.replace(/^\/ops(?=\/|$)/, '');
      const described = describeWrite(req.method, path, req.body, answer);
      const target = (res.locals.auditTarget as string | undefined) ?? described.target;
      void audit
        .record({
          actor: principal.actor,
          role: principal.role,
          action: described.action,
          ...(target !== undefined ? { target } : {}),
          ...(typeof req.body === 'object' && req.body !== null && Object.keys(req.body as object).length > 0
            ? { params: boundParams(req.body) }
            : {}),
          ip: req.ip,
          userAgent: req.get('user-agent'),
          result: resultOf(res.statusCode),
          status: res.statusCode,
        })
        .finally(() => (end as (...a: unknown[]) => Response).apply(this, args));
      return this;
    } as Response['end'];
    next();
  };
}
