import { createHash, randomBytes } from 'node:crypto';

/**
 * The key a session is stored and addressed under: SHA-256 of the cookie's session id.
 * Jobs, ops and Socket.IO rooms only ever know this key; the id itself lives in the cookie.
 */
export function sessionKey(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url');
}

/** 192 random bits, URL-safe: the id a new visitor's cookie carries. */
export function newSessionId(): string {
  return randomBytes(24).toString('base64url');
}
