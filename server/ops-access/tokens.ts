import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Ops credentials are random, high-entropy strings (256 bits), so a plain SHA-256 is the right
 * hash for them: nothing to brute-force, and a lookup by hash compares no secret in JS.
 */
export const hashToken = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/** A new operator token: a recognisable prefix (secret scanners, logs) and 256 random bits. */
export const newOperatorToken = (): string => `fcop_${randomBytes(32).toString('base64url')}`;

/** A new ops session id for the cookie: 256 random bits. */
export const newSessionId = (): string => randomBytes(32).toString('base64url');

/** Compares two hashes in constant time. */
export const sameHash = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);
