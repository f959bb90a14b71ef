/**
 * The banner widget: shows the session's flashes as a stack of banners and keeps them live.
 *
 * - Banners the server rendered into the page are adopted, not drawn again.
 * - Flashes arrive by Socket.IO (`flash`), and by `GET /api/flashes` after every (re)connect,
 *   which catches whatever was written while the tab was offline.
 * - Each id is shown at most once per tab, then acknowledged (batched, within 200 ms), so a
 *   reload never shows it again; a flash never acknowledged shows again on the next load.
 * - The maintenance countdown counts down locally on the server's clock between ticks.
 *
 * Decisions live in flash-tracker.ts, ack-batcher.ts and common/ (the countdown, and the banner's
 * markup, which the server renders from the same function); this file only touches the DOM and
 * the network. Text is always set as text: a flash message is text, never markup.
 */
import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  Flash,
  FlashesResponse,
  MaintenanceEvent,
  PromotionEvent,
  ServerToClientEvents,
} from '../../protocol/events.ts';
import {
  agreeUnit,
  clockOffset,
  countdownMessage,
  offsetFromRendered,
  secondsLeft,
  splitCountdownMessage,
} from '../../common/countdown.ts';
import { bannerMarkup, copyOf, deadlineOf, parseFlash, promotionOf } from '../../common/flash-banner.ts';
import type { MarkupNode } from '../../common/markup.ts';
import { createAckBatcher } from './ack-batcher.ts';
import { createFlashTracker } from './flash-tracker.ts';

type VisitorSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface BannerWidget {
  /** Closes the socket and stops every timer. */
  stop(): void;
}

export interface BannerWidgetOptions {
  /** A socket to use instead of connecting one (tests, or a page that shares its socket). */
  socket?: VisitorSocket;
  /**
   * Also fetch `GET /api/flashes` after every connect (default true: the store's pages). The
   * server sends pending flashes over the socket at connect anyway; the script for other sites
   * (client/widget) relies on that alone.
   */
  fetchPending?: boolean;
  /**
   * Acknowledge over `POST /api/flashes/ack` when the socket is down or the page is going away
   * (default true: the store's pages). Without it (a site that has no such route), acknowledgements
   * go over the socket only, and those that cannot are sent at the next connect.
   */
  ackOverHttp?: boolean;
}

/**
 * A tab that shows a live copy (`data.copyOf`, from `req.flash`) acknowledges the stored flash
 * this much later: long enough for the page that the flashing request redirects to, in another
 * tab, to read or show it first; short enough that an unread one does not come back on every load.
 */
export const COPY_ACK_DELAY_MS = 3000;

const TICK_MS = 250;
/** After a countdown reaches zero without news, check the site at these delays. */
const ZERO_CHECKS_MS = [3000, 8000];
const MAX_QUEUED_PROMOTION_EVENTS = 50;
/** A second `active` reload within this time is held back (see enterMaintenance). */
const RELOAD_GUARD_MS = 5000;
const RELOAD_MARK = 'flashcast.maintenanceReloadAt';

/** Builds common/'s markup description as DOM nodes: strings become text nodes, never markup. */
function toDom(node: MarkupNode): Node {
  if (typeof node === 'string') return document.createTextNode(node);
  const built = document.createElement(node.tag);
  for (const [name, value] of Object.entries(node.attrs)) built.setAttribute(name, value === true ? '' : value);
  built.append(...node.children.map(toDom));
  return built;
}

/** The banner the server would render for this flash (common/flash-banner.ts), as DOM. */
function buildBanner(key: string, message: string, flash?: Flash): HTMLElement {
  return toDom(bannerMarkup(key, message, flash)) as HTMLElement;
}

/** Reads a server-rendered banner back into the flash it shows. */
function flashFromBanner(banner: HTMLElement): Flash | undefined {
  const text = banner.querySelector<HTMLElement>('[data-flash-id]');
  const id = text?.dataset.flashId;
  const key = text?.dataset.flashKey ?? banner.dataset.bannerKey;
  if (!text || !id || !key) return undefined;
  const data: Record<string, unknown> = {};
  if (banner.dataset.promotionId) data.promotionId = Number(banner.dataset.promotionId);
  const cta = banner.querySelector<HTMLAnchorElement>('[data-promotion-cta]');
  if (cta) data.url = cta.getAttribute('href');
  if (banner.dataset.maintenanceDeadline) data.deadline = banner.dataset.maintenanceDeadline;
  return { id, key, message: text.textContent ?? '', createdAt: text.dataset.flashCreatedAt ?? '', data };
}

function handshakeCode(error: Error): string {
  const data = (error as { data?: { code?: unknown } }).data;
  return typeof data?.code === 'string' ? data.code : error.message;
}

export function startBannerWidget(region: HTMLElement, options: BannerWidgetOptions = {}): BannerWidget {
  const tracker = createFlashTracker();
  /** The banner on screen for each key. */
  const banners = new Map<string, HTMLElement>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (callback: () => void, ms: number) => {
    const handle = setTimeout(() => {
      timers.delete(handle);
      callback();
    }, ms);
    timers.add(handle);
    return handle;
  };

  // WebSocket first: a closed tab then closes its TCP connection and presence drops it at once.
  // Starting on polling left a window (the upgrade) in which a closed tab stayed "present"
  // until the ping timeout. Polling remains the fallback where websockets are blocked.
  const socket: VisitorSocket =
    options.socket ?? io({ withCredentials: true, transports: ['websocket', 'polling'], tryAllTransports: true });

  // --- acknowledgements --------------------------------------------------------------------

  /** Ids whose acknowledgement could not be sent; retried on the next connect. */
  const unsent = new Set<string>();
  let leaving = false;

  function postAcks(ids: string[]): void {
    fetch('/api/flashes/ack', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ ids }),
      credentials: 'same-origin',
      // Outlives the page, so an acknowledgement sent on the way out still arrives.
      keepalive: true,
    }).then(
      (response) => {
        // A 4xx will not get better by retrying; a 5xx (maintenance, restart) may.
        if (response.status >= 500) for (const id of ids) unsent.add(id);
      },
      () => {
        for (const id of ids) unsent.add(id);
      },
    );
  }

  const acks = createAckBatcher({
    send(ids) {
      if (socket.connected && (!leaving || options.ackOverHttp === false)) socket.emit('flash:ack', { ids });
      else if (options.ackOverHttp === false) for (const id of ids) unsent.add(id);
      else postAcks(ids);
    },
  });

  // --- promotion events --------------------------------------------------------------------

  const queuedPromotionEvents: PromotionEvent[] = [];

  function promotionEvent(flash: Flash, action: PromotionEvent['action']): void {
    const promotionId = promotionOf(flash)?.promotionId;
    if (promotionId === undefined) return;
    const event: PromotionEvent = { promotionId, action };
    if (socket.connected) socket.emit('promotion:event', event);
    else if (queuedPromotionEvents.length < MAX_QUEUED_PROMOTION_EVENTS) queuedPromotionEvents.push(event);
  }

  // --- maintenance countdown ---------------------------------------------------------------

  /** The running countdown: deadline on the server's clock, and that clock's offset to ours. */
  let countdown: { deadline: number; offset: number } | undefined;
  /** The offset learnt from the last `maintenance` event, which carries the server's time. */
  let knownOffset: number | undefined;
  let countdownDismissed = false;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let zeroChecks: ReturnType<typeof setTimeout>[] = [];
  let reloading = false;

  function reload(): void {
    if (reloading) return;
    reloading = true;
    leaving = true;
    acks.flush();
    location.reload();
  }

  function tick(): void {
    if (!countdown) return;
    const seconds = secondsLeft(countdown.deadline, Date.now() + countdown.offset);
    const left = String(seconds);
    for (const number of region.querySelectorAll<HTMLElement>('[data-maintenance-countdown]')) {
      if (number.textContent === left) continue;
      number.textContent = left;
      // "1 second", not "1 seconds": the word after the number follows it.
      const after = number.nextSibling;
      if (after?.nodeType === Node.TEXT_NODE) {
        const agreed = agreeUnit(after.textContent ?? '', seconds);
        if (agreed !== after.textContent) after.textContent = agreed;
      }
    }
    if (left === '0' && zeroChecks.length === 0) scheduleZeroChecks();
  }

  /**
   * The `active` event normally reloads the page at zero. If it never comes (the socket
   * dropped), ask the site: a 503 means maintenance began, so reload into its page; no 503 at
   * the last check means the countdown was cancelled while we were away.
   */
  function scheduleZeroChecks(): void {
    zeroChecks = ZERO_CHECKS_MS.map((delay, index) =>
      later(() => {
        if (!countdown) return;
        fetch('/', { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'text/html' } }).then(
          (response) => {
            if (response.status === 503) reload();
            else if (index === ZERO_CHECKS_MS.length - 1) endCountdown();
          },
          () => undefined,
        );
      }, delay),
    );
  }

  function runCountdown(deadline: number, offset: number): void {
    if (countdown?.deadline !== deadline) countdownDismissed = false;
    countdown = { deadline, offset };
    for (const handle of zeroChecks) clearTimeout(handle);
    zeroChecks = [];
    ticker ??= setInterval(tick, TICK_MS);
    tick();
  }

  function endCountdown(): void {
    countdown = undefined;
    countdownDismissed = false;
    if (ticker !== undefined) clearInterval(ticker);
    ticker = undefined;
    for (const handle of zeroChecks) clearTimeout(handle);
    zeroChecks = [];
    banners.get('maintenance')?.remove();
    banners.delete('maintenance');
    tracker.clearKey('maintenance');
  }

  /** A `maintenance` flash drives the countdown too, from `data.deadline` or its own number. */
  function countdownFromFlash(flash: Flash): void {
    const parts = splitCountdownMessage(flash.message);
    const deadline = deadlineOf(flash);
    const now = Date.now();
    if (deadline !== undefined) {
      if (countdown?.deadline === deadline) return; // the event's offset is the better one
      const offset = knownOffset ?? (parts ? offsetFromRendered(deadline, parts.seconds, now) : 0);
      runCountdown(deadline, offset);
    } else if (parts) {
      const offset = knownOffset ?? 0;
      runCountdown(now + offset + parts.seconds * 1000, offset);
    }
  }

  /**
   * `active` means visitor pages now answer 503, so a reload lands on the maintenance page.
   * If this page was itself loaded by such a reload moments ago, the site did not answer 503
   * (the gate lags the event): ask it instead of reloading in a loop.
   */
  function enterMaintenance(): void {
    const now = Date.now();
    let last = 0;
    try {
      last = Number(sessionStorage.getItem(RELOAD_MARK)) || 0;
      sessionStorage.setItem(RELOAD_MARK, String(now));
    } catch {
      // No storage: no loop guard, but the reload still happens.
    }
    if (now - last > RELOAD_GUARD_MS) {
      reload();
      return;
    }
    later(() => {
      fetch('/', { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'text/html' } }).then(
        (response) => {
          if (response.status === 503) reload();
        },
        () => undefined,
      );
    }, RELOAD_GUARD_MS);
  }

  function onMaintenance(event: MaintenanceEvent): void {
    knownOffset = clockOffset(event.serverTime, Date.now());
    if (event.state === 'active') {
      enterMaintenance();
      return;
    }
    if (event.state === 'idle') {
      endCountdown();
      return;
    }
    const parsed = event.deadline ? Date.parse(event.deadline) : Number.NaN;
    const deadline = Number.isFinite(parsed)
      ? parsed
      : typeof event.secondsLeft === 'number'
        ? event.serverTime + event.secondsLeft * 1000
        : undefined;
    if (deadline === undefined) return;
    runCountdown(deadline, knownOffset);
    if (!banners.has('maintenance') && !countdownDismissed) {
      const seconds = secondsLeft(deadline, Date.now() + knownOffset);
      place('maintenance', buildBanner('maintenance', countdownMessage(seconds, event.message)));
      tick();
    }
  }

  // --- banners -----------------------------------------------------------------------------

  /** Puts a banner on screen, in place of the one its key had. */
  function place(key: string, banner: HTMLElement, flash?: Flash): void {
    const previous = banners.get(key);
    if (previous && previous !== banner && previous.isConnected) previous.replaceWith(banner);
    else if (!banner.isConnected) region.append(banner);
    banners.set(key, banner);

    const dismiss = banner.querySelector<HTMLButtonElement>('[data-banner-dismiss]');
    if (dismiss) {
      dismiss.hidden = false;
      dismiss.addEventListener('click', () => {
        banner.remove();
        if (banners.get(key) === banner) banners.delete(key);
        if (key === 'maintenance') countdownDismissed = true;
        if (flash) promotionEvent(flash, 'dismissed');
      });
    }
    const cta = banner.querySelector<HTMLAnchorElement>('[data-promotion-cta]');
    if (cta && flash) cta.addEventListener('click', () => promotionEvent(flash, 'clicked'));
  }

  /** Offers a flash; `rendered` is the server's banner for it, when adopting. */
  function show(flash: Flash, rendered?: HTMLElement): void {
    const offer = tracker.offer(flash);
    if (offer.kind === 'duplicate') return;
    const original = copyOf(flash);
    if (offer.kind === 'superseded') {
      rendered?.remove();
      if (original === undefined) acks.add(flash.id);
      return;
    }
    place(flash.key, rendered ?? buildBanner(flash.key, flash.message, flash), flash);
    if (flash.key === 'maintenance') {
      if (countdownDismissed) countdownDismissed = false;
      countdownFromFlash(flash);
    }
    // A copy is stored nowhere: its original is acknowledged, later (COPY_ACK_DELAY_MS).
    if (original === undefined) acks.add(flash.id);
    else later(() => acks.add(original), COPY_ACK_DELAY_MS);
    promotionEvent(flash, 'displayed');
  }

  async function fetchPending(): Promise<void> {
    try {
      const response = await fetch('/api/flashes', {
        headers: { accept: 'application/json' },
        cache: 'no-store',
        credentials: 'same-origin',
      });
      if (!response.ok) return;
      const body = (await response.json()) as Partial<FlashesResponse>;
      for (const raw of Array.isArray(body.flashes) ? body.flashes : []) {
        const flash = parseFlash(raw);
        if (flash) show(flash);
      }
    } catch {
      // Offline or mid-restart: the next connect fetches again.
    }
  }

  // --- socket ------------------------------------------------------------------------------

  let retryDelay = 1000;

  socket.on('connect', () => {
    retryDelay = 1000;
    for (const id of unsent) acks.add(id);
    unsent.clear();
    for (const event of queuedPromotionEvents.splice(0)) socket.emit('promotion:event', event);
    // The server sends the pending flashes over the socket at connect as well; ids shown once.
    if (options.fetchPending !== false) void fetchPending();
  });
  socket.on('flash', (raw) => {
    const flash = parseFlash(raw);
    if (flash) show(flash);
  });
  socket.on('maintenance', onMaintenance);
  socket.on('connect_error', (error) => {
    // socket.active: the client retries by itself. Otherwise the server refused the handshake.
    if (socket.active) return;
    const code = handshakeCode(error);
    if (code === 'ORIGIN_NOT_ALLOWED') {
      console.warn('flashcast: this origin may not open a socket; live banners are off.');
      return;
    }
    // NO_SESSION and the like: the session may be set by a later response; retry, gently.
    later(() => socket.connect(), retryDelay + Math.random() * 1000);
    retryDelay = Math.min(retryDelay * 2, 30_000);
  });

  // --- page lifecycle ----------------------------------------------------------------------

  const onPageHide = () => {
    leaving = true;
    acks.flush();
  };
  const onPageShow = (event: PageTransitionEvent) => {
    leaving = false;
    if (!event.persisted) return;
    // Back from the back-forward cache: catch up on what happened meanwhile.
    if (!socket.connected) socket.connect();
    else if (options.fetchPending !== false) void fetchPending();
  };
  /** Escape dismisses the newest banner, as its × button does (focus anywhere on the page). */
  const onKeyDown = (event: KeyboardEvent) => {
    if (event.key !== 'Escape' || event.defaultPrevented) return;
    const newest = [...region.querySelectorAll<HTMLElement>('[data-banner-key]')].pop();
    newest?.querySelector<HTMLButtonElement>('[data-banner-dismiss]')?.click();
  };
  addEventListener('pagehide', onPageHide);
  addEventListener('pageshow', onPageShow);
  addEventListener('keydown', onKeyDown);

  for (const banner of region.querySelectorAll<HTMLElement>('[data-banner-key]')) {
    const flash = flashFromBanner(banner);
    if (flash) show(flash, banner);
    else banner.remove();
  }

  return {
    stop() {
      removeEventListener('pagehide', onPageHide);
      removeEventListener('pageshow', onPageShow);
      removeEventListener('keydown', onKeyDown);
      acks.flush();
      if (ticker !== undefined) clearInterval(ticker);
      for (const handle of timers) clearTimeout(handle);
      socket.disconnect();
    },
  };
}
