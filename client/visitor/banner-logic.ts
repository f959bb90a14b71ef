/**
 * The banner widget's decisions, kept free of the DOM and of sockets so they can be tested
 * with plain objects: which flashes to show (each id once per tab, a newer flash replacing
 * the banner of its key), when to acknowledge (batched, well inside the 1 s the contract
 * promises), and how many seconds a maintenance countdown has left on a skewed clock.
 *
 * The server's page renderer imports the pure helpers too (countdown split, safe links), so
 * the banners it renders and the ones the widget builds agree on markup.
 */
import { MAX_ACK_IDS, type Flash } from '../../protocol/events.ts';

// ---------------------------------------------------------------------------------------------
// Flashes: validation, keys, promotions

/** The keys the system itself uses; any other key is styled as "other". */
export type BannerTone = 'notice' | 'alert' | 'promotion' | 'maintenance' | 'other';

/** connect-flash's usual types (`req.flash('success', …)`) take the tone of their meaning. */
const toneAliases: Record<string, BannerTone> = { info: 'notice', success: 'notice', error: 'alert', danger: 'alert', warning: 'alert' };

export function toneOf(key: string): BannerTone {
  if (key === 'notice' || key === 'alert' || key === 'promotion' || key === 'maintenance') return key;
  return toneAliases[key] ?? 'other';
}

/**
 * A live copy of a stored flash (what `req.flash` pushes, see server/sessions/flash-middleware.ts):
 * the id of the stored flash it shows, which the tab treats as shown too.
 */
export function copyOf(flash: Pick<Flash, 'data'>): string | undefined {
  const id = flash.data?.copyOf;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Accepts a flash from the wire only if it has the fields the widget relies on. */
export function parseFlash(value: unknown): Flash | undefined {
  if (!isRecord(value)) return undefined;
  const { id, key, message, data, createdAt } = value;
  if (typeof id !== 'string' || id === '' || typeof key !== 'string' || key === '' || typeof message !== 'string') {
    return undefined;
  }
  const flash: Flash = { id, key, message, createdAt: typeof createdAt === 'string' ? createdAt : '' };
  if (isRecord(data)) flash.data = data;
  return flash;
}

/**
 * A link that is safe to put in an `href`: a same-origin path, or an absolute http(s) URL.
 * Anything else (`javascript:`, `data:`, protocol-relative `//host`) gives undefined.
 */
export function safeHref(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const href = value.trim();
  if (href === '' || href.length > 2048) return undefined;
  if (href.startsWith('/')) {
    return href.startsWith('//') || href.startsWith('/\\') ? undefined : href;
  }
  try {
    const url = new URL(href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

export interface PromotionInfo {
  promotionId?: number;
  url?: string;
}

/** The promotion a flash carries (`data.promotionId`, `data.url`), if it is a promotion. */
export function promotionOf(flash: Pick<Flash, 'key' | 'data'>): PromotionInfo | undefined {
  if (flash.key !== 'promotion') return undefined;
  const info: PromotionInfo = {};
  const id = Number(flash.data?.promotionId);
  if (flash.data?.promotionId !== undefined && Number.isSafeInteger(id) && id > 0) info.promotionId = id;
  const url = safeHref(flash.data?.url);
  if (url !== undefined) info.url = url;
  return info;
}

/** `data.deadline` as ms since epoch, when it is a valid ISO time. */
export function deadlineOf(flash: Pick<Flash, 'data'>): number | undefined {
  const raw = flash.data?.deadline;
  if (typeof raw !== 'string') return undefined;
  const ms = Date.parse(raw);
  return Number.isFinite(ms) ? ms : undefined;
}

// ---------------------------------------------------------------------------------------------
// Which flashes to show

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

// ---------------------------------------------------------------------------------------------
// Acknowledgements

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

export interface AckBatcher {
  add(id: string): void;
  /** Sends what is pending now (page hide, reconnect). */
  flush(): void;
  pending(): string[];
}

export interface AckBatcherOptions {
  /** Ids shown within this window go out together. Well below the contract's 1 s. */
  delayMs?: number;
  /** Receives at most MAX_ACK_IDS ids per call. */
  send(ids: string[]): void;
  timers?: Timers;
}

/**
 * Collects ids shown close together and sends them in one acknowledgement, `delayMs` after the
 * first of them was shown: the first id's wait bounds every id's wait.
 */
export function createAckBatcher({ delayMs = 200, send, timers = realTimers }: AckBatcherOptions): AckBatcher {
  const pending = new Set<string>();
  let timer: unknown;
  const flush = () => {
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
    const ids = [...pending];
    pending.clear();
    for (let start = 0; start < ids.length; start += MAX_ACK_IDS) send(ids.slice(start, start + MAX_ACK_IDS));
  };
  return {
    add(id) {
      pending.add(id);
      if (timer === undefined) timer = timers.setTimeout(flush, delayMs);
    },
    flush,
    pending: () => [...pending],
  };
}

// ---------------------------------------------------------------------------------------------
// Maintenance countdown arithmetic

/** How far the server's clock is ahead of ours: add it to `Date.now()` to get server time. */
export function clockOffset(serverTime: number, receivedAt: number): number {
  return Number.isFinite(serverTime) ? serverTime - receivedAt : 0;
}

/** Whole seconds left until `deadline` (server clock), rounded up as the server rounds. */
export function secondsLeft(deadline: number, clientNow: number, offset: number): number {
  const ms = deadline - (clientNow + offset);
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

/**
 * A page rendered by the server shows the seconds left at render time. If our clock disagrees
 * with the deadline by more than a second of rounding, our clock is off: estimate the offset
 * from the rendered number (the server's "now" was within the second before
 * `deadline - seconds`, so take the middle of it). Otherwise trust our clock (offset 0).
 */
export function offsetFromRendered(deadline: number, renderedSeconds: number, clientNow: number): number {
  if (Math.abs(secondsLeft(deadline, clientNow, 0) - renderedSeconds) <= 1) return 0;
  const serverNow = deadline - (renderedSeconds - 0.5) * 1000;
  return serverNow - clientNow;
}

export interface CountdownParts {
  before: string;
  seconds: number;
  after: string;
}

const countdownPattern = /(\d+)(\s*seconds?\b)/i;

/**
 * Splits "Server shutting down in 27 seconds" around its number so the number can live in its
 * own element (`data-maintenance-countdown`) and the text around it stays the server's words.
 */
export function splitCountdownMessage(message: string): CountdownParts | undefined {
  const match = countdownPattern.exec(message);
  if (!match || match[1] === undefined) return undefined;
  return {
    before: message.slice(0, match.index),
    seconds: Number(match[1]),
    after: message.slice(match.index + match[1].length),
  };
}

/** "second" for 1, "seconds" for any other number. */
export const secondsUnit = (seconds: number): string => (seconds === 1 ? 'second' : 'seconds');

/** The word after a countdown's number ("seconds", "second"), made to agree with the number. */
export function agreeUnit(after: string, seconds: number): string {
  return after.replace(/^(\s*)seconds?\b/i, (_match, space: string) => space + secondsUnit(seconds));
}

/** The text of a countdown banner built from a live event, when no flash gave one. */
export function countdownMessage(seconds: number, extra?: string): string {
  if (extra && splitCountdownMessage(extra)) return extra;
  const base = `Server shutting down in ${seconds} ${secondsUnit(seconds)}`;
  return extra ? `${base}. ${extra}` : base;
}
