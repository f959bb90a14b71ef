import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from '../errors.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** True when the header carries the ops token. Compared in constant time. */
export function isOpsAuthorized(header: string | undefined, token: string): boolean {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1]!), digest(token));
}

/** Bearer OPS_TOKEN on every ops API call; 401 without it or with a wrong one. */
export function requireOpsToken(token: string): RequestHandler {
  return (req, _res, next) => {
    if (isOpsAuthorized(req.headers.authorization, token)) return next();
    next(new AppError('UNAUTHORIZED', 'Send the header "Authorization: Bearer <OPS_TOKEN>"; the token is printed at start in development.'));
  };
}

/**
 * For ops pages a browser opens directly (Agendash): a browser cannot send a bearer header
 * on navigation, so HTTP Basic with any user name and OPS_TOKEN as the password works too.
 */
export function requireOpsLogin(token: string): RequestHandler {
  return (req, res, next) => {
    const header = req.headers.authorization ?? '';
    const basic = /^Basic (.+)$/.exec(header);
    const password = basic ? Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').slice(1).join(':') : undefined;
    if (isOpsAuthorized(header, token) || (password !== undefined && isOpsAuthorized(`Bearer ${password}`, token))) return next();
    res.setHeader('WWW-Authenticate', 'Basic realm="flashcast ops", charset="UTF-8"');
    res.status(401).type('text').send('Sign in with any user name and the OPS_TOKEN as password.');
  };
}
