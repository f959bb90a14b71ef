import { Router, type RequestHandler } from 'express';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../logger.ts';
import { createAuditLog, type AuditLog } from './audit-log.ts';
import { createOperators, type Operators } from './operators.ts';
import { createOpsSessions, DEFAULT_OPS_IDLE_SECONDS } from './ops-sessions.ts';
import { ANONYMOUS_ACTOR } from './principal.ts';
import { createSignInLimiter, DEFAULT_SIGN_IN_LIMITS, type SignInLimits } from './sign-in-limiter.ts';
import { refuseCrossSiteWrites } from '../http/cross-site-guard.ts';
import { createOpsAccessRoutes } from './ops-access-routes.ts';
import { auditWrites } from './audit-writes.ts';
import { createOpsAuth, writesNeedOperator } from './ops-auth.ts';

export interface OpsAccessOptions {
  bootstrapToken: string;
  production: boolean;
  /** Idle timeout of a console session; default 30 minutes. */
  idleSeconds?: number | undefined;
  /** Refused tokens per address before 429; default 10 a minute. */
  signInLimits?: SignInLimits | undefined;
}

export interface OpsAccess {
  /** For everything under /ops: no cross-site writes, JSON bodies only. */
  guard: RequestHandler;
  /** For /ops/api, before authentication: POST and DELETE /session (sign in, sign out). */
  signInRoutes: Router;
  /** For /ops/api: authenticate, audit every write, writes need the operator role. */
  protectApi: RequestHandler[];
  /** For ops pages (Agendash): the same, with a sign-in hint for a browser's page request. */
  protectPage: RequestHandler[];
  /** GET /session, operators, audit; mount behind protectApi. */
  routes: Router;
  audit: AuditLog;
  operators: Operators;
}

/**
 * Ops access (DESIGN.md): OPS_TOKEN as the bootstrap administrator, named operators with
 * their own tokens and roles, console sessions in their own table and cookie, the audit
 * trail, the limit on refused tokens. Built once per app; app.ts mounts the parts.
 */
export function createOpsAccess(deps: { pool: Pool; logger: Logger }, options: OpsAccessOptions): OpsAccess {
  const idleSeconds = options.idleSeconds ?? DEFAULT_OPS_IDLE_SECONDS;
  const limits = options.signInLimits ?? DEFAULT_SIGN_IN_LIMITS;
  const audit = createAuditLog(deps);
  const operators = createOperators(deps);
  const sessions = createOpsSessions({ pool: deps.pool, idleSeconds });
  const limiter = createSignInLimiter(limits, (address, blocked, failures) => {
    void audit.record({
      actor: ANONYMOUS_ACTOR,
      action: 'sign-in.limited',
      params: { blocked, failures, windowSeconds: limits.windowSeconds },
      ip: address,
      result: 'limited',
      status: 429,
    });
  });
  const auth = createOpsAuth(
    { operators, sessions, audit, limiter },
    {
      bootstrapToken: options.bootstrapToken,
      // __Host-: only this origin, over HTTPS, with Path=/, can set it (no sub-domain planting).
      cookieName: options.production ? '__Host-flashcast.ops' : 'flashcast.ops',
      secureCookie: options.production,
      idleSeconds,
    },
  );

  const signInRoutes = Router();
  signInRoutes.post('/session', auth.signIn);
  signInRoutes.delete('/session', auth.signOut);

  const audited = auditWrites(audit);
  return {
    guard: refuseCrossSiteWrites,
    signInRoutes,
    protectApi: [auth.authenticate, audited, writesNeedOperator],
    protectPage: [auth.authenticatePage, audited, writesNeedOperator],
    routes: createOpsAccessRoutes({ operators, audit }),
    audit,
    operators,
  };
}
