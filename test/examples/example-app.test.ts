import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserBuildDir } from '../../server/project-paths.ts';
import { EVENTUALLY } from '../realtime/support.ts';
import { launchBrowser } from '../support/browser.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { opsHeaders } from '../support/http.ts';
import { type StartedProcess, startProcess } from '../support/process.ts';

/**
 * examples/express-app.ts, started as its README says (its own process, its own environment),
 * used in Chromium as a visitor would: log in through its form, see the welcome flash shown
 * by the widget, then get a flash pushed through the ops API into the open page, live.
 */

const OPS_TOKEN = 'example-ops-token-0123456789';
const APPEAR = { state: 'visible', timeout: EVENTUALLY.timeout } as const;
const EXIT_WITHIN_MS = 20_000;

let database: TestDatabase;
let browser: Browser;
let app: StartedProcess | undefined;
let context: BrowserContext | undefined;

beforeAll(async () => {
  if (!existsSync(path.join(browserBuildDir, '.vite/manifest.json'))) {
    throw new Error(`The widget is not built (${browserBuildDir} has no manifest): run \`npx vite build\` first.`);
  }
  [database, browser] = await Promise.all([createTestDatabase(), launchBrowser()]);
  // Fails with the app's own output (a missing server/flashcast.ts, a bad option) if it exits before listening.
  app = await startProcess(
    { DATABASE_URL: database.url, SESSION_SECRET: 'example-session-secret-0123456789', OPS_TOKEN, PORT: '0' },
    'examples/express-app.ts',
    /example app listening on (http:\/\/\S+)/,
  );
});
afterAll(async () => {
  await context?.close().catch(() => undefined);
  await browser?.close();
  if (app && app.child.exitCode === null && app.child.signalCode === null) {
    process.kill(-app.child.pid!, 'SIGKILL'); // a test failed before the orderly stop
    await app.exited;
  }
  await database?.drop();
});

/** Resolves on the Socket.IO connect packet (`40…`) of the next websocket this page opens. */
function nextSocketConnect(page: Page): Promise<void> {
  return new Promise((resolve) => {
    page.on('websocket', (ws) => {
      if (!new URL(ws.url()).pathname.startsWith('/socket.io/')) return;
      ws.on('framereceived', (frame) => {
        if (typeof frame.payload === 'string' && frame.payload.startsWith('40')) resolve();
      });
    });
  });
}

describe('the example Express app (examples/express-app.ts)', { timeout: 120_000 }, () => {
  it('when a visitor logs in through its form, then the widget shows the welcome flash, a flash pushed by ops appears in the open page without a reload, and logging out works', async () => {
    const url = app!.url;
    context = await browser.newContext({ baseURL: url });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));

    expect((await page.goto('/'))?.status()).toBe(200);
    await page.getByLabel('Name').fill('Ada');
    const connected = nextSocketConnect(page);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Hello, Ada' }).waitFor(APPEAR);

    const welcome = page.locator('[data-flash-key="info"]');
    await welcome.waitFor(APPEAR);
    expect(await welcome.textContent()).toBe('Welcome, Ada!');

    // "active" means a socket connected now: wait until the server counts this tab, then push once.
    await connected;
    await page.evaluate(() => Object.assign(window, { __sameDocument: true }));
    await expect
      .poll(async () => {
        const response = await fetch(`${url}/ops/api/sessions/stats`, { headers: opsHeaders(OPS_TOKEN) });
        return ((await response.json()) as { active?: number }).active;
      }, EVENTUALLY)
      .toBe(1);

    const pushed = await fetch(`${url}/ops/api/flashes`, {
      method: 'POST',
      headers: { ...opsHeaders(OPS_TOKEN), 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'active', key: 'notice', message: 'We ship a new release at noon.' }),
    });
    expect(pushed.status).toBe(201);
    expect(((await pushed.json()) as { sessions: number }).sessions).toBe(1);

    const notice = page.locator('[data-flash-key="notice"]');
    await notice.waitFor(APPEAR);
    expect(await notice.textContent()).toBe('We ship a new release at noon.');
    expect(await page.evaluate(() => (window as { __sameDocument?: boolean }).__sameDocument)).toBe(true);

    // Its logout destroys the session in flashcast's store: the form is back.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor(APPEAR);
    expect(errors).toEqual([]);
  });

  it('when it gets SIGTERM with a tab still connected, then it closes flashcast and its server and exits 0', async () => {
    const { child, exited, output } = app!;
    child.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), EXIT_WITHIN_MS).unref());
    const code = await Promise.race([exited, timeout]);
    if (code === 'timeout') throw new Error(`the example app was still running ${EXIT_WITHIN_MS / 1000} s after SIGTERM:\n${output()}`);
    expect(code, output()).toBe(0);
    expect(output(), 'no error logged from start to stop').not.toMatch(/"level":(50|60)/);
  });
});
