import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionKey } from '../../server/sessions/session-key.ts';
import { EVENTUALLY } from '../realtime/support.ts';
import { launchBrowser } from '../support/browser.ts';
import { HOST_COOKIE, startHostApp, type HostApp } from '../support/host-app.ts';
import { idOfSignedCookie } from '../support/http.ts';

/**
 * The widget's one script tag on plain pages of someone else's Express app (test/support/host-app.ts),
 * in a real Chromium: req.flash delivered live and on the next page, placement, Escape, and
 * screenshots of both placements at desktop and phone widths for a person to judge.
 */

const SCREENSHOT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '__screenshots__');
const APPEAR = { state: 'visible', timeout: EVENTUALLY.timeout } as const;

let t: HostApp;
let browser: Browser;
const contexts = new Set<BrowserContext>();

beforeAll(async () => {
  [t, browser] = await Promise.all([startHostApp(), launchBrowser()]);
});
afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await t?.close();
});

async function newContext(viewport = { width: 1280, height: 800 }): Promise<{ context: BrowserContext; errors: string[] }> {
  const context = await browser.newContext({ baseURL: t.url, viewport });
  contexts.add(context);
  const errors: string[] = [];
  context.on('page', (page) => page.on('pageerror', (error) => errors.push(error.message)));
  return { context, errors };
}

/** Resolves once the page's widget socket has connected (its Socket.IO connect packet arrived). */
function socketConnected(page: Page): Promise<void> {
  return new Promise((resolve) => {
    page.on('websocket', (ws) => {
      if (!new URL(ws.url()).pathname.startsWith('/socket.io/')) return;
      ws.on('framereceived', (frame) => {
        if (typeof frame.payload === 'string' && frame.payload.startsWith('40')) resolve();
      });
    });
  });
}

async function openPage(context: BrowserContext, url = '/page'): Promise<Page> {
  const page = await context.newPage();
  const connectedNow = socketConnected(page);
  expect((await page.goto(url))?.status()).toBe(200);
  await connectedNow;
  return page;
}

async function keyOfContext(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies(t.url)).find((c) => c.name === HOST_COOKIE);
  if (!cookie) throw new Error(`the browser has no ${HOST_COOKIE} cookie`);
  return sessionKey(idOfSignedCookie(cookie.value));
}

const infoBanner = (page: Page) => page.locator('[data-flash-key="info"]');

describe('the widget script on a plain page of another Express app', { timeout: 120_000 }, () => {
  it('when a route flashes and redirects, then the next page shows the message and a second open tab gets it live', async () => {
    const { context, errors } = await newContext();
    const second = await openPage(context);
    await second.evaluate(() => Object.assign(window, { __sameDocument: true }));
    const first = await openPage(context);

    const navigated = first.waitForURL('**/page');
    await first.getByRole('button', { name: 'Save' }).click();
    await navigated;

    await infoBanner(first).waitFor(APPEAR);
    expect(await infoBanner(first).textContent()).toBe('Saved "Groceries".');
    await infoBanner(second).waitFor(APPEAR);
    expect(await infoBanner(second).textContent()).toBe('Saved "Groceries".');
    expect(await second.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    expect(await first.locator('[data-flash-id]').count()).toBe(1);

    // Shown on the next page, it is consumed: a reload shows nothing.
    const key = await keyOfContext(context);
    await expect.poll(async () => (await t.sessions.find(key))?.flashes.length, EVENTUALLY).toBe(0);
    await first.reload();
    await first.waitForTimeout(500);
    expect(await infoBanner(first).count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('when the host renders req.flash itself, then its page shows the message and the widget does not show it again', async () => {
    const { context, errors } = await newContext();
    const page = await openPage(context);
    const navigated = page.waitForURL('**/rendered');
    await page.evaluate(() => {
      const form = document.querySelector('form')!;
      form.action = '/save?next=/rendered';
      form.requestSubmit();
    });
    await navigated;
    await page.locator('[data-host-flash]').waitFor(APPEAR);
    expect(await page.locator('[data-host-flash]').textContent()).toBe('Saved "Groceries".');
    await page.waitForTimeout(800);
    expect(await infoBanner(page).count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it('when Escape is pressed, then the newest banner is dismissed', async () => {
    const { context } = await newContext();
    const page = await openPage(context);
    const key = await keyOfContext(context);
    await t.sessions.writeFlash({ session: key }, { key: 'notice', message: 'First notice' });
    await t.sessions.writeFlash({ session: key }, { key: 'alert', message: 'Then an alert' });
    await page.reload();
    await page.locator('[data-flash-key="alert"]').waitFor(APPEAR);
    await page.locator('[data-flash-key="notice"]').waitFor(APPEAR);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('[data-flash-key="alert"]').count(), EVENTUALLY).toBe(0);
    expect(await page.locator('[data-flash-key="notice"]').count()).toBe(1);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('[data-flash-key]').count(), EVENTUALLY).toBe(0);
  });

  it('when shown as a top bar or as toasts, at desktop and phone widths, then it never covers the site navigation (screenshots)', async () => {
    await mkdir(SCREENSHOT_DIR, { recursive: true });
    for (const placement of ['top', 'toasts'] as const) {
      for (const viewport of [
        { width: 1280, height: 800 },
        { width: 390, height: 844 },
      ]) {
        const { context, errors } = await newContext(viewport);
        const page = await openPage(context, `/page?placement=${placement}`);
        const key = await keyOfContext(context);
        await t.sessions.writeFlash(
          { session: key },
          { key: 'notice', message: 'Your changes were saved. They are visible to your team now.' },
        );
        await t.sessions.writeFlash(
          { session: key },
          { key: 'promotion', message: 'Upgrade to Acme Pro this week and get 20% off.', data: { url: '/page' } },
        );
        await page.reload();
        for (const flashKey of ['notice', 'promotion']) await page.locator(`[data-flash-key="${flashKey}"]`).waitFor(APPEAR);
        await page.waitForTimeout(400); // the slide-in

        const nav = (await page.locator('[data-site-nav]').boundingBox())!;
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(viewport.width);
        for (const banner of await page.locator('.fc-banner').all()) {
          const box = (await banner.boundingBox())!;
          expect(box.x).toBeGreaterThanOrEqual(0);
          expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
          const overlaps = box.y < nav.y + nav.height && nav.y < box.y + box.height;
          expect(overlaps, `a ${placement} banner overlaps the navigation at ${viewport.width}px`).toBe(false);
        }
        if (placement === 'top') {
          // In the page's flow: the navigation moved down below the bar.
          const region = (await page.locator('.fc-widget').boundingBox())!;
          expect(nav.y).toBeGreaterThanOrEqual(region.y + region.height - 1);
        }
        await page.screenshot({ path: path.join(SCREENSHOT_DIR, `widget-${placement}-${viewport.width}.png`), animations: 'disabled' });
        expect(errors).toEqual([]);
        await context.close();
        contexts.delete(context);
      }
    }
  });
});
