import type { Request, RequestHandler, Response } from 'express';
import { opsApi } from '../../protocol/ops-api.ts';
import { AppError } from '../errors.ts';
import type { AuditLog } from './audit-log.ts';
import type { Operators } from './operators.ts';
import type { OpsSessions } from './ops-sessions.ts';
import { ADMIN_ACTOR, ANONYMOUS_ACTOR, hasRole, type OpsPrincipal, type OpsRole } from './principal.ts';
import type { SignInLimiter } from './sign-in-limiter.ts';
import { hashToken, sameHash } from './tokens.ts';
import { SAFE_METHODS, sentFromOwnOrigin } from '../http/cross-site-guard.ts';
import { parseInput } from '../http/validate.ts';

export interface OpsAuthDeps {
  operators: Operators;
  sessions: OpsSessions;
  audit: AuditLog;
  limiter: SignInLimiter;
}

export interface OpsAuthOptions {
  /** OPS_TOKEN: the bootstrap administrator. */
  bootstrapToken: string;
  /** The ops session cookie's name and whether it is Secure (production: `__Host-`, Secure). */
  cookieName: string;
  secureCookie: boolean;
  idleSeconds: number;
}

export interface OpsAuth {
  /** Bearer token or ops session; 401 otherwise. Sets the principal (principalOf). */
  authenticate: RequestHandler;
  /** Agendash's pages: as authenticate, but a browser's page request gets a page pointing at /ops. */
  authenticatePage: RequestHandler;
  /** POST /session {token}: signs the console in (201, the ops cookie) or refuses (401, 429). */
  signIn: RequestHandler;
  /** DELETE /session: ends the console's ops session, if any; always 200. */
  signOut: RequestHandler;
}

/** The principal authenticate found; only call behind it. */
export function principalOf(res: Response): OpsPrincipal {
  const principal = res.locals.opsPrincipal as OpsPrincipal | undefined;
  if (!principal) throw new AppError('UNAUTHORIZED', 'Sign in first.');
  return principal;
}

/** Refuses (403) a principal below `role`; for writes, `writesNeed` gives the role they need. */
export function requireRole(role: OpsRole): RequestHandler {
  return (_req, res, next) => {
    const principal = principalOf(res);
    if (hasRole(principal, role)) return next();
    next(
      new AppError(
        'FORBIDDEN',
        `This needs the ${role} role; ${principal.actor} is ${principal.role === 'admin' ? 'an' : 'a'} ${principal.role}.`,
      ),
    );
  };
}

/** Viewers read; a write needs the operator role (or the administrator). */
export const writesNeedOperator: RequestHandler = (req, res, next) => {
  if (SAFE_METHODS.has(req.method)) return next();
  requireRole('operator')(req, res, next);
};

const clientOf = (req: Request) => ({ ip: req.ip, userAgent: req.get('user-agent') });

function readCookie(req: Request, name: string): string | undefined {
  for (const pair of (req.get('cookie') ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

export function createOpsAuth(deps: OpsAuthDeps, options: OpsAuthOptions): OpsAuth {
  const { operators, sessions, audit, limiter } = deps;
  const bootstrapHash = hashToken(options.bootstrapToken);

  /** Who a credential (a token's hash) belongs to now; undefined once revoked or rotated. */
  async function holderOf(credential: Buffer): Promise<Omit<OpsPrincipal, 'via'> | undefined> {
    if (sameHash(credential, bootstrapHash)) return { actor: ADMIN_ACTOR, role: 'admin' };
    const operator = await operators.findByToken(credential);
    return operator ? { actor: operator.name, role: operator.role } : undefined;
  }

  /**
   * Checks a token someone presented, under the per-address limit on refusals. A refusal is
   * an audit row; a blocked attempt is counted, and the burst becomes one row when it ends.
   */
  async function checkPresentedToken(token: string, req: Request, res: Response, action: string) {
    const client = clientOf(req);
    const address = client.ip ?? 'unknown';
    const wait = limiter.retryAfter(address);
    if (wait > 0) {
      limiter.blocked(address);
      res.setHeader('Retry-After', String(wait));
      throw new AppError('TOO_MANY_REQUESTS', `Too many refused ops tokens from your address; try again in ${wait} seconds.`);
    }
    const credential = hashToken(token);
    const holder = await holderOf(credential);
    if (holder) return { ...holder, credential };
    const startsBlock = limiter.refused(address);
    await audit.record({
      actor: ANONYMOUS_ACTOR,
      action,
      target: `${req.method} ${req.originalUrl.split('?')[0]}`,
      ...(startsBlock ? { params: { limitReached: true } } : {}),
      ...client,
      result: 'refused',
      status: 401,
    });
    throw new AppError(
      'UNAUTHORIZED',
      'The ops token was refused. Use OPS_TOKEN or an operator token from "npm run ops -- operators create".',
    );
  }

  async function identify(req: Request, res: Response): Promise<OpsPrincipal | undefined> {
    const bearer = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    if (bearer) {
      const { actor, role } = await checkPresentedToken(bearer[1]!, req, res, 'token');
      return { actor, role, via: 'token' };
    }
    const id = readCookie(req, options.cookieName);
    if (!id) return undefined;
    const credential = await sessions.resume(id);
    const holder = credential && (await holderOf(credential));
    if (!holder) return undefined;
    // A cookie rides along on any request the browser makes; a write must also prove it
    // comes from our own pages (http/cross-site-guard.ts has refused the foreign ones already).
    if (!SAFE_METHODS.has(req.method) && !sentFromOwnOrigin(req)) {
      throw new AppError('FORBIDDEN', 'A console write must come from the ops console (no Origin or Sec-Fetch-Site header was sent).');
    }
    return { ...holder, via: 'session' };
  }

  const unauthorized = () =>
    new AppError(
      'UNAUTHORIZED',
      'Sign in on the ops console (/ops), or send "Authorization: Bearer <token>" (OPS_TOKEN or an operator token).',
    );

  const authenticate: RequestHandler = async (req, res, next) => {
    const principal = await identify(req, res);
    if (!principal) throw unauthorized();
    res.locals.opsPrincipal = principal;
    next();
  };

  return {
    authenticate,

    authenticatePage: async (req, res, next) => {
      const principal = await identify(req, res);
      if (principal) {
        res.locals.opsPrincipal = principal;
        return next();
      }
      if (req.method === 'GET' && req.accepts(['json', 'html']) === 'html') {
        res
          .status(401)
          .type('html')
          .send(
            '<!doctype html><meta charset="utf-8"><title>Sign in</title><p>Sign in on the <a href="/ops">ops console</a> first, then come back.</p>',
          );
        return;
      }
      throw unauthorized();
    },

    signIn: async (req, res) => {
      const { token } = parseInput(opsApi['POST /session'].body, req.body ?? {});
      const holder = await checkPresentedToken(token, req, res, 'sign-in');
      const id = await sessions.start(holder.credential, holder.actor, readCookie(req, options.cookieName));
      res.cookie(options.cookieName, id, {
        httpOnly: true,
        sameSite: 'strict',
        secure: options.secureCookie,
        path: '/',
      });
      await audit.record({ actor: holder.actor, role: holder.role, action: 'sign-in', ...clientOf(req), result: 'ok', status: 201 });
      res.status(201).json({ actor: holder.actor, role: holder.role, idleSeconds: options.idleSeconds });
    },

    signOut: async (req, res) => {
      const id = readCookie(req, options.cookieName);
      const credential = id ? await sessions.resume(id) : undefined;
      const holder = credential && (await holderOf(credential));
      if (id) await sessions.end(id);
      res.clearCookie(options.cookieName, { httpOnly: true, sameSite: 'strict', secure: options.secureCookie, path: '/' });
      if (holder)
        await audit.record({ actor: holder.actor, role: holder.role, action: 'sign-out', ...clientOf(req), result: 'ok', status: 200 });
      res.json({ signedOut: Boolean(holder) });
    },
  };
}
