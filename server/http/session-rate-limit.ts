import { isIPv6 } from 'node:net';

/**
 * SESSION_RATE_LIMIT: how many new sessions one client address may start a minute. A token
 * bucket per address, in this process's memory: `perMinute` tokens at most (the burst), refilled
 * at `perMinute` a minute. Only the start of a session takes a token; a visitor who sends its
 * cookie back never meets the limit, so an honest visitor keeps working beside a flood from
 * its own address.
 *
 * Kept per process, not in PostgreSQL: counting in the database would cost a write for every
 * request the limit exists to refuse. With several web processes, one address may start up to
 * `perMinute` sessions a minute on each.
 */

/** Buckets kept at most; past it, full buckets are forgotten first, then the oldest. */
const MAX_ADDRESSES = 100_000;

export type SessionAdmission = { admitted: true } | { admitted: false; retryAfterSeconds: number };

export interface SessionRateLimit {
  /** Takes a token for a new session from `address`, or says how long until one is free. */
  admit(address: string): SessionAdmission;
}

interface Bucket {
  tokens: number;
  at: number;
}

export function createSessionRateLimit(options: { perMinute: number; now?: () => number }): SessionRateLimit {
  const { perMinute } = options;
  const now = options.now ?? Date.now;
  if (perMinute === 0) return { admit: () => ({ admitted: true }) };
  const perMs = perMinute / 60_000;
  const buckets = new Map<string, Bucket>();

  const refill = (bucket: Bucket, at: number): void => {
    bucket.tokens = Math.min(perMinute, bucket.tokens + (at - bucket.at) * perMs);
    bucket.at = at;
  };

  const makeRoom = (at: number): void => {
    for (const [address, bucket] of buckets) {
      refill(bucket, at);
      if (bucket.tokens >= perMinute) buckets.delete(address);
    }
    // Still full: many addresses at once, each with a recent session. Forgetting the oldest
    // gives them a fresh burst, which a per-address limit cannot prevent anyway.
    for (const address of buckets.keys()) {
      if (buckets.size < MAX_ADDRESSES * 0.9) break;
      buckets.delete(address);
    }
  };

  return {
    admit(address) {
      const at = now();
      const key = addressKey(address);
      let bucket = buckets.get(key);
      if (!bucket) {
        if (buckets.size >= MAX_ADDRESSES) makeRoom(at);
        bucket = { tokens: perMinute, at };
        buckets.set(key, bucket);
      }
      refill(bucket, at);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return { admitted: true };
      }
      return { admitted: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)) };
    },
  };
}

/**
 * What one client is: its IPv4 address (also when written as `::ffff:a.b.c.d`), or the /64 of
 * its IPv6 address, since one IPv6 client usually holds a whole /64 and could take a new
 * address for every request.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const missing = address.includes('::') ? 8 - headGroups.length - tailGroups.length : 0;
  const groups = [...headGroups, ...Array<string>(Math.max(0, missing)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
