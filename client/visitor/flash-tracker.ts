/**
 * Which flashes a tab shows: each id once per tab, a newer flash replacing the banner of its
 * key. Kept free of the DOM and of sockets so it can be tested with plain objects.
 */
import type { Flash } from '../../protocol/events.ts';
import { copyOf } from '../../common/flash-banner.ts';

export type Offer =
  /** Show it; `replaces` is the flash of the same key it supersedes, if any. */
  | { kind: 'show'; replaces?: Flash }
  /** Already shown (or skipped) in this tab: do nothing. */
  | { kind: 'duplicate' }
  /** Older than the flash already shown under its key: don't show, but acknowledge it. */
  | { kind: 'superseded' };

export interface FlashTracker {
  offer(flash: Flash): Offer;
  /** The newest flash seen under a key, shown or dismissed. */
  latest(key: string): Flash | undefined;
  /** Forgets the key's newest flash (the maintenance banner went away with its countdown). */
  clearKey(key: string): void;
  hasSeen(id: string): boolean;
}

function createdAtMs(flash: Flash): number {
  const ms = Date.parse(flash.createdAt);
  return Number.isFinite(ms) ? ms : Number.NaN;
}

/**
 * Each id is offered once per tab: the page's own render, the socket push and the fetch after
 * a reconnect all hand in the same flash, and only the first counts. Under one key the newest
 * `createdAt` wins; a flash without a usable time counts as newest (it arrived last).
 */
export function createFlashTracker(): FlashTracker {
  const seen = new Set<string>();
  const latestByKey = new Map<string, Flash>();
  return {
    offer(flash) {
      if (seen.has(flash.id)) return { kind: 'duplicate' };
      seen.add(flash.id);
      // Its original, arriving later (a reconnect's pending flashes), is the same message.
      const original = copyOf(flash);
      if (original !== undefined) seen.add(original);
      const previous = latestByKey.get(flash.key);
      if (previous && createdAtMs(flash) < createdAtMs(previous)) return { kind: 'superseded' };
      latestByKey.set(flash.key, flash);
      return previous ? { kind: 'show', replaces: previous } : { kind: 'show' };
    },
    latest: (key) => latestByKey.get(key),
    clearKey: (key) => void latestByKey.delete(key),
    hasSeen: (id) => seen.has(id),
  };
}
