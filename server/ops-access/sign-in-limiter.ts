import { secondsLeft } from '../../common/countdown.ts';

/**
 * Refused ops authentications, counted per client address (a wrong bearer token, a failed
 * console sign-in). After `failures` refusals inside `windowSeconds` from one address, every
 * token it presents is answered 429 with Retry-After until the window ends, the right one
 * too: otherwise a guesser would still learn which guess was right. A signed-in console
 * (a valid ops session cookie) is not affected.
 *
 * Kept in this process's memory: the tokens are 256 random bits, so the limit is about the
 * noise (and the audit rows) a guesser makes, not about their odds; with several web
 * processes each counts on its own. At most `maxAddresses` are tracked; beyond that the
 * oldest windows are dropped first.
 */
export interface SignInLimits {
  failures: number;
  windowSeconds: number;
  maxAddresses?: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { failures: 10, windowSeconds: 60 };

interface Window {
  startedAt: number;
  failures: number;
  /** Attempts answered 429 in this window, summarised in one audit row when it ends. */
  blocked: number;
}

export interface SignInLimiter {
  /** Seconds until `address` may try again; 0 when it may try now. */
  retryAfter(address: string): number;
  /** Counts a 429; the first of a window schedules its summary. */
  blocked(address: string): void;
  /** Counts a refusal; true when it is the one that starts the block. */
  refused(address: string): boolean;
}

export function createSignInLimiter(
  limits: SignInLimits,
  /** Called once a window that blocked attempts ends: one audit row for the burst. */
  onBurstEnd: (address: string, blocked: number, failures: number) => void,
  now: () => number = Date.now,
): SignInLimiter {
  const windowMs = limits.windowSeconds * 1000;
  const maxAddresses = limits.maxAddresses ?? 10_000;
  const windows = new Map<string, Window>();

  const current = (address: string): Window | undefined => {
    const window = windows.get(address);
    if (window && now() - window.startedAt >= windowMs) {
      windows.delete(address);
      return undefined;
    }
    return window;
  };

  const prune = () => {
    if (windows.size < maxAddresses) return;
    for (const [address, window] of windows) {
      if (now() - window.startedAt >= windowMs || windows.size >= maxAddresses) windows.delete(address);
      if (windows.size < maxAddresses / 2) break;
    }
  };

  return {
    retryAfter(address) {
      const window = current(address);
      if (!window || window.failures < limits.failures) return 0;
      return Math.max(1, secondsLeft(window.startedAt + windowMs, now()));
    },

    blocked(address) {
      const window = current(address);
      if (!window) return;
      window.blocked += 1;
      if (window.blocked === 1) {
        const left = Math.max(0, window.startedAt + windowMs - now());
        setTimeout(() => onBurstEnd(address, window.blocked, window.failures), left).unref();
      }
    },

    refused(address) {
      let window = current(address);
      if (!window) {
        prune();
        window = { startedAt: now(), failures: 0, blocked: 0 };
        windows.set(address, window);
      }
      window.failures += 1;
      return window.failures === limits.failures;
    },
  };
}
