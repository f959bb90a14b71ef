/**
 * A flash as a banner, the same in the page the server renders and in the banner the widget
 * builds when a flash arrives live: which tone it takes, which promotion it carries, and the
 * banner's markup (`bannerMarkup`). The widget adopts server-rendered banners instead of
 * drawing them again, so both must agree; having one function build both is how they do.
 *
 * Page hooks (CONTRACT.md): the message is an element with `data-flash-id` and
 * `data-flash-key` whose text is the message; a countdown's seconds sit in an element with
 * `data-maintenance-countdown`.
 */
import type { Flash } from '../protocol/events.ts';
import { splitCountdownMessage } from './countdown.ts';
import { element, type MarkupElement, type MarkupNode } from './markup.ts';

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

const toneLabels: Record<string, string> = {
  notice: 'Notice',
  alert: 'Alert',
  promotion: 'Offer',
  maintenance: 'Maintenance',
};

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
// The banner's markup

/** The message: plain text, or text around a `data-maintenance-countdown` number. */
function messageMarkup(key: string, message: string): MarkupNode[] {
  const parts = key === 'maintenance' ? splitCountdownMessage(message) : undefined;
  if (!parts) return [message];
  return [
    parts.before,
    element('span', { class: 'fc-countdown', 'data-maintenance-countdown': true, role: 'timer' }, String(parts.seconds)),
    parts.after,
  ];
}

/**
 * One banner. `flash` is the flash it shows; without one (a countdown banner the widget builds
 * from a `maintenance` event) the banner carries no flash id. The dismiss button starts hidden:
 * in a server-rendered page without JavaScript it could do nothing, and the widget shows it
 * when it adopts the banner. No role of its own: the region is the live region, and nested
 * ones announce twice.
 */
export function bannerMarkup(key: string, message: string, flash?: Flash): MarkupElement {
  const promotion = flash ? promotionOf(flash) : undefined;
  const deadline = typeof flash?.data?.deadline === 'string' ? flash.data.deadline : undefined;
  const cta = promotion?.url
    ? [element('a', { class: 'fc-banner__cta', href: promotion.url, 'data-promotion-cta': true }, 'View offer')]
    : [];
  return element(
    'div',
    {
      class: `fc-banner fc-banner--${toneOf(key)}`,
      'data-banner-key': key,
      'data-promotion-id': promotion?.promotionId === undefined ? undefined : String(promotion.promotionId),
      'data-maintenance-deadline': deadline || undefined,
    },
    element('span', { class: 'fc-banner__tag' }, toneLabels[key] ?? key),
    element(
      'p',
      { class: 'fc-banner__body' },
      element(
        'span',
        {
          class: 'fc-banner__message',
          'data-flash-id': flash?.id,
          'data-flash-key': flash?.key,
          'data-flash-created-at': flash?.createdAt,
        },
        ...messageMarkup(key, message),
      ),
    ),
    ...cta,
    element(
      'button',
      { type: 'button', class: 'fc-banner__dismiss', 'data-banner-dismiss': true, 'aria-label': 'Dismiss', title: 'Dismiss', hidden: true },
      '×',
    ),
  );
}
