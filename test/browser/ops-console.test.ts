import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTUALLY, startRealtimeApp, type RealtimeApp } from '../realtime/support.ts';
import { TEST_OPS_TOKEN } from '../support/app.ts';
import { launchBrowser } from '../support/browser.ts';

let t: RealtimeApp;
let browser: Browser;

beforeAll(async () => {
  [t, browser] = await Promise.all([startRealtimeApp(), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('when an operator opens the ops console', () => {
  it('then a wrong token is refused visibly, and the right one shows live presence', async () => {
    const visitor = await t.newVisitor();
    await t.connect(visitor);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${t.url}/ops`);

      await page.fill('#token-form input[name="token"]', 'wrong-token-0123456789');
      await page.click('#token-form [type="submit"]');
      await expect.poll(() => page.locator('#token-form').isVisible(), EVENTUALLY).toBe(true);
      await expect.poll(() => page.locator('#ops-alert').innerText(), EVENTUALLY).toContain('refused');

      await page.fill('#token-form input[name="token"]', TEST_OPS_TOKEN);
      await page.click('#token-form [type="submit"]');
      await expect.poll(() => page.locator('[data-presence="activeSessions"]').innerText(), EVENTUALLY).toBe('1');
      await expect.poll(() => page.locator('[data-presence="sockets"]').innerText(), EVENTUALLY).toBe('1');
    } finally {
      await context.close();
    }
  });
});
