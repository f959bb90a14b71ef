import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Flash, FlashesResponse } from '../../protocol/events.ts';
import { sessionKey } from '../../server/sessions/session-key.ts';
import { EVENTUALLY, startRealtimeApp, type RealtimeApp } from '../realtime/support.ts';
import { TEST_OPS_TOKEN } from '../support/app.ts';
import { launchBrowser } from '../support/browser.ts';
import { idOfSignedCookie, opsHeaders } from '../support/http.ts';

/**
 * The banner widget in a real Chromium, against the real app (Socket.IO, PostgreSQL), driven
 * the way ops drive it: through the ops API. Each test opens its own browser context, which
 * is one visitor with one session cookie, and closes it; the app's database is this file's
 * own, so presence counts only the tabs opened here.
 */

const SCREENSHOT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '__screenshots__');
/** Waiting for an element: generous, never a measured bound. */
const APPEAR = { state: 'visible', timeout: EVENTUALLY.timeout } as const;

let t: RealtimeApp;
let browser: Browser;
const contexts = new Set<BrowserContext>();

beforeAll(async () => {
  [t, browser] = await Promise.all([startRealtimeApp(), launchBrowser()]);
});
afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await t?.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Resolves once the page's current document has its Socket.IO connection on a websocket.
 *
 * Why tests wait for it before closing a tab: a tab closed before its socket is on a
 * websocket (still handshaking, or mid-upgrade if it fell back to polling) leaves nothing open
 * for the server to see close, so its presence stays until Engine.IO's ping timeout. Once on a
 * websocket, closing the tab closes the socket at once. The widget opens a websocket first,
 * so this is the Socket.IO connect packet (`40…`) arriving over a websocket; after a fallback
 * to polling, the upgrade packet `5` the client sends.
 */
const upgrades = new WeakMap<Page, Promise<void>>();

function watchUpgrades(page: Page): void {
  let done = () => {};
  const reset = () => upgrades.set(page, new Promise<void>((resolve) => (done = resolve)));
  reset();
  // A new document (goto, reload) connects anew; its websocket comes after the navigation.
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) reset();
  });
  page.on('websocket', (ws) => {
    if (!new URL(ws.url()).pathname.startsWith('/socket.io/')) return;
    const resolve = done;
    ws.on('framesent', (frame) => {
      if (frame.payload === '5') resolve();
    });
    ws.on('framereceived', (frame) => {
      if (typeof frame.payload === 'string' && frame.payload.startsWith('40')) resolve();
    });
  });
}

async function upgraded(page: Page): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the page's socket never moved to a websocket")), EVENTUALLY.timeout);
  });
  try {
    await Promise.race([upgrades.get(page), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Closes a tab once its socket can close cleanly (see `upgrades`). */
async function closeTab(page: Page): Promise<void> {
  await upgraded(page);
  await page.close();
}

interface Visit {
  context: BrowserContext;
  /** Uncaught errors and dialogs (an alert() would mean markup ran) of every page opened. */
  pageErrors: string[];
  dialogs: string[];
  open(): Promise<Page>;
  close(): Promise<void>;
}

/** A new visitor: a browser context of its own, so a cookie jar and a session of its own. */
async function newVisit(viewport = { width: 1280, height: 800 }): Promise<Visit> {
  const context = await browser.newContext({ baseURL: t.url, viewport });
  contexts.add(context);
  const pageErrors: string[] = [];
  const dialogs: string[] = [];
  context.on('page', (page) => {
    watchUpgrades(page);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss().catch(() => undefined);
    });
  });
  return {
    context,
    pageErrors,
    dialogs,
    async open() {
      const page = await context.newPage();
      const response = await page.goto('/');
      expect(response?.status()).toBe(200);
      return page;
    },
    async close() {
      contexts.delete(context);
      // Best effort: a test that failed midway must not hang here as well.
      await Promise.all(context.pages().map((page) => upgraded(page).catch(() => undefined)));
      await context.close();
    },
  };
}

/** The stored key of the context's session, from its signed `flashcast.sid` cookie. */
async function keyOfContext(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies(t.url)).find((c) => c.name === 'flashcast.sid');
  if (!cookie) throw new Error('the browser has no flashcast.sid cookie');
  return sessionKey(idOfSignedCookie(cookie.value));
}

/** POST /ops/api/flashes; the written flash. */
async function pushFlash(to: 'active' | { sessions: string[] }, key: string, message: string): Promise<Flash> {
  const response = await fetch(`${t.url}/ops/api/flashes`, {
    method: 'POST',
    headers: { ...opsHeaders(TEST_OPS_TOKEN), 'content-type': 'application/json' },
    body: JSON.stringify({ to, key, message }),
  });
  const body = (await response.json()) as { sessions: number; flash: Flash };
  expect(response.status, JSON.stringify(body)).toBe(201);
  expect(body.sessions).toBeGreaterThanOrEqual(1);
  return body.flash;
}

/** Ids of the session's pending flashes (GET /api/flashes with the context's cookie). */
async function pendingIds(context: BrowserContext): Promise<string[]> {
  const response = await context.request.get('/api/flashes', { headers: { accept: 'application/json' } });
  expect(response.status()).toBe(200);
  const body = (await response.json()) as FlashesResponse;
  return body.flashes.map((flash) => flash.id);
}

/** Waits until presence shows exactly these counts: every socket this file opened is in it. */
async function presenceIs(expected: { activeSessions: number; sockets: number }): Promise<void> {
  await expect.poll(() => t.presence(), EVENTUALLY).toEqual(expected);
}

const flashSelector = (id: string) => `[data-flash-id="${id}"]`;

/** Waits for the flash's element and checks it is shown exactly once, with its message as text. */
async function shownOnce(page: Page, flash: Flash): Promise<void> {
  const element = page.locator(flashSelector(flash.id));
  await element.waitFor(APPEAR);
  expect(await element.count()).toBe(1);
  expect(await element.getAttribute('data-flash-key')).toBe(flash.key);
  expect(await element.textContent()).toBe(flash.message);
}

/** Waits until the widget has acknowledged everything the session had pending. */
async function acknowledged(context: BrowserContext): Promise<void> {
  await expect.poll(() => pendingIds(context), EVENTUALLY).toEqual([]);
}

/**
 * A flash pushed only to show that a tab is live. Its key is its own: the widget lets a newer
 * flash replace the banner of the same key, which would hide the flash a test looks for.
 */
async function pushLater(context: BrowserContext): Promise<Flash> {
  return pushFlash({ sessions: [await keyOfContext(context)] }, 'later', `later ${randomUUID()}`);
}

/**
 * Reloads and checks the flash is gone: not in the served HTML, not added by the widget's
 * fetch of pending flashes after its socket connects, and still absent once a later flash
 * (pushed after the reload) has reached the tab, so the tab was live while we looked.
 */
async function goneAfterReload(page: Page, context: BrowserContext, flash: Flash): Promise<void> {
  const fetched = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/flashes' && r.request().method() === 'GET', {
    timeout: EVENTUALLY.timeout,
  });
  const response = await page.reload();
  expect(response?.status()).toBe(200);
  expect(await response!.text()).not.toContain(flash.id);
  const pending = await fetched;
  expect(((await pending.json()) as FlashesResponse).flashes.map((f) => f.id)).not.toContain(flash.id);

  await upgraded(page);
  const later = await pushLater(context);
  await shownOnce(page, later);
  expect(await page.locator(flashSelector(flash.id)).count()).toBe(0);
}

// ---------------------------------------------------------------------------------------------
// Tests

describe('flash delivery in a real browser', { timeout: 120_000 }, () => {
  it('when ops push a flash to an open home page, then it appears without a reload, and a reload does not bring it back', async () => {
    const visit = await newVisit();
    try {
      const page = await visit.open();
      await presenceIs({ activeSessions: 1, sockets: 1 });
      // Marks this document: if the flash came with a navigation, the mark would be gone.
      await page.evaluate(() => Object.assign(window, { __sameDocument: true }));

      const flash = await pushFlash({ sessions: [await keyOfContext(visit.context)] }, 'notice', `Hello, live visitor ${randomUUID()}`);
      await shownOnce(page, flash);
      expect(await page.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument)).toBe(true);

      await acknowledged(visit.context);
      await goneAfterReload(page, visit.context, flash);
      expect(visit.pageErrors).toEqual([]);
    } finally {
      await visit.close();
    }
  });

  it('when ops push to "active" while the page is connected, then the page shows it', async () => {
    const visit = await newVisit();
    try {
      const page = await visit.open();
      await presenceIs({ activeSessions: 1, sockets: 1 });

      const flash = await pushFlash('active', 'alert', `To everyone on the site ${randomUUID()}`);
      await shownOnce(page, flash);
      await acknowledged(visit.context);
      expect(visit.pageErrors).toEqual([]);
    } finally {
      await visit.close();
    }
  });

  it('when a flash is written while no tab is open, then the next visit shows it once, and the reload after that does not', async () => {
    const visit = await newVisit();
    try {
      const first = await visit.open();
      const key = await keyOfContext(visit.context);
      await closeTab(first);
      await presenceIs({ activeSessions: 0, sockets: 0 });

      const flash = await pushFlash({ sessions: [key] }, 'notice', `Written while you were away ${randomUUID()}`);
      expect(await pendingIds(visit.context)).toEqual([flash.id]);

      const page = await visit.open();
      await shownOnce(page, flash);
      await acknowledged(visit.context);
      // Shown by the server's render, adopted by the widget, fetched again on connect: still one.
      expect(await page.locator(flashSelector(flash.id)).count()).toBe(1);

      await goneAfterReload(page, visit.context, flash);
      expect(visit.pageErrors).toEqual([]);
    } finally {
      await visit.close();
    }
  });

  it('when a visitor has two tabs open, then a pushed flash shows in both, exactly once in each', async () => {
    const visit = await newVisit();
    try {
      const tabs = [await visit.open(), await visit.open()];
      await presenceIs({ activeSessions: 1, sockets: 2 });

      const flash = await pushFlash({ sessions: [await keyOfContext(visit.context)] }, 'notice', `In every tab ${randomUUID()}`);
      for (const tab of tabs) await shownOnce(tab, flash);
      await acknowledged(visit.context);

      // Both tabs are still live (a later flash reaches each), and the first one is still once.
      const later = await pushLater(visit.context);
      for (const tab of tabs) {
        await shownOnce(tab, later);
        expect(await tab.locator(flashSelector(flash.id)).count()).toBe(1);
      }
      expect(visit.pageErrors).toEqual([]);
    } finally {
      await visit.close();
    }
  });

  it('when a flash message contains HTML, then it is shown as text, live and when rendered by the server', async () => {
    const markup = '<img src=x onerror=alert(1)>';
    const visit = await newVisit();
    try {
      const page = await visit.open();
      await presenceIs({ activeSessions: 1, sockets: 1 });
      const key = await keyOfContext(visit.context);

      const live = await pushFlash({ sessions: [key] }, 'alert', markup);
      await shownOnce(page, live); // its text is the markup, character for character
      expect(await page.locator(`${flashSelector(live.id)} *`).count()).toBe(0);
      await acknowledged(visit.context);
      await closeTab(page);
      await presenceIs({ activeSessions: 0, sockets: 0 });

      const rendered = await pushFlash({ sessions: [key] }, 'notice', `${markup} <b>bold?</b>`);
      const next = await visit.open();
      await shownOnce(next, rendered);
      expect(await next.locator(`${flashSelector(rendered.id)} *`).count()).toBe(0);
      expect(await next.locator('.fc-banners img, .fc-banners b').count()).toBe(0);
      await acknowledged(visit.context);

      expect(visit.dialogs).toEqual([]);
      expect(visit.pageErrors).toEqual([]);
    } finally {
      await visit.close();
    }
  });

  it('when a notice and a promotion are shown, then they fit desktop and phone widths (screenshots for a person to judge)', async () => {
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    for (const viewport of [
      { width: 1280, height: 800 },
      { width: 390, height: 844 },
    ]) {
      const visit = await newVisit(viewport);
      try {
        const page = await visit.open();
        await presenceIs({ activeSessions: 1, sockets: 1 });
        const key = await keyOfContext(visit.context);

        const notice = await pushFlash({ sessions: [key] }, 'notice', 'Orders placed before 5 pm ship today. Free returns for 30 days.');
        // A promotion with its link, as the promotion round writes one: the ops API cannot attach
        // data, the push can.
        const written = await t.push.flash(
          { session: key },
          {
            key: 'promotion',
            message: 'Widget Pro is 20% off this weekend only — treat your desk.',
            data: { url: '/products/widget-pro' },
          },
        );
        await shownOnce(page, notice);
        await shownOnce(page, written.flash);
        await expect.poll(() => page.locator('[data-promotion-cta]').isVisible(), EVENTUALLY).toBe(true);
        await acknowledged(visit.context);

        // Nothing spills sideways, and each banner's message sits inside the viewport.
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
        for (const id of [notice.id, written.flash.id]) {
          const box = await page.locator(flashSelector(id)).boundingBox();
          expect(box).not.toBeNull();
          expect(box!.x).toBeGreaterThanOrEqual(0);
          expect(box!.x + box!.width).toBeLessThanOrEqual(viewport.width);
        }

        await page.screenshot({
          path: path.join(SCREENSHOT_DIR, `banners-${viewport.width}x${viewport.height}.png`),
          animations: 'disabled', // the banners' slide-in, finished
        });
        expect(visit.pageErrors).toEqual([]);
      } finally {
        await visit.close();
      }
    }
  });
});
