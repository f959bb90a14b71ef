import { describe, expect, it } from 'vitest';
import { addressKey, createSessionRateLimit } from '../../server/http/session-rate-limit.ts';

describe('when one address starts sessions', () => {
  it('then it gets SESSION_RATE_LIMIT at once, then one per 60 / limit seconds, and Retry-After says when', () => {
    let now = 1_000_000;
    const limit = createSessionRateLimit({ perMinute: 6, now: () => now });
    for (let i = 0; i < 6; i += 1) expect(limit.admit('203.0.113.7')).toEqual({ admitted: true });
    expect(limit.admit('203.0.113.7')).toEqual({ admitted: false, retryAfterSeconds: 10 });
    // Others are not affected.
    expect(limit.admit('203.0.113.8')).toEqual({ admitted: true });
    now += 4_000;
    expect(limit.admit('203.0.113.7')).toEqual({ admitted: false, retryAfterSeconds: 6 });
    now += 6_000;
    expect(limit.admit('203.0.113.7')).toEqual({ admitted: true });
    expect(limit.admit('203.0.113.7').admitted).toBe(false);
  });

  it('then 0 turns the limit off', () => {
    const limit = createSessionRateLimit({ perMinute: 0 });
    for (let i = 0; i < 1000; i += 1) expect(limit.admit('127.0.0.1').admitted).toBe(true);
  });

  it('then an IPv6 client is counted by its /64, and an IPv4-mapped address as IPv4', () => {
    expect(addressKey('2001:db8:0:1:aaaa::1')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:DB8:0:1:bbbb:cccc:dddd:eeee')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(addressKey('198.51.100.4')).toBe('198.51.100.4');

    const limit = createSessionRateLimit({ perMinute: 1 });
    expect(limit.admit('2001:db8:0:1::a').admitted).toBe(true);
    expect(limit.admit('2001:db8:0:1::b').admitted).toBe(false);
    expect(limit.admit('2001:db8:0:2::a').admitted).toBe(true);
  });
});
