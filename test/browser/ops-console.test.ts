import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connected, EVENTUALLY, openSocket, type TestSocket } from '../realtime/support.ts';
import { TEST_OPS_TOKEN } from '../support/app.ts';
import { launchBrowser } from '../support/browser.ts';
import { opsHeaders, Visitor } from '../support/http.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

const SCREENSHOT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '__screenshots__');

let t: TestSystem;
let browser: Browser;
let operatorToken: string;
let socket: TestSocket | undefined;

beforeAll(async () => {
  [t, browser] = await Promise.all([startTestSystem(), launchBrowser()]);
  const created = await fetch(`${t.url}/ops/api/operators`, {
    method: 'POST',
    headers: { ...opsHeaders(TEST_OPS_TOKEN), 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'olivia', role: 'operator' }),
  });
  operatorToken = ((await created.json()) as { token: string }).token;
});
afterAll(async () => {
  socket?.disconnect();
  await browser?.close();
  await t?.close();
});

async function signIn(page: Page, token: string): Promise<void> {
  await page.fill('#token-form input[name="token"]', token);
  await page.click('#token-form [type="submit"]');
}

const cleanupSchedule = async () =>
  (await t.pool.query("SELECT repeat_interval, disabled, next_run_at FROM agenda_jobs WHERE name = 'session-cleanup' AND type = 'single'"))
    .rows;

describe('when an operator uses the ops console', () => {
  it('then a wrong token is refused visibly, the right one signs in and works, and sign-out ends the session', async () => {
    const visitor = new Visitor(t.url);
    await visitor.request('/');
    socket = openSocket(t.url, visitor);
    await connected(socket);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${t.url}/ops`);
      await expect.poll(() => page.locator('#token-form').isVisible(), EVENTUALLY).toBe(true);

      await signIn(page, 'wrong-token-0123456789');
      await expect.poll(() => page.locator('#ops-alert').innerText(), EVENTUALLY).toContain('refused');
      expect(await page.locator('#ops-main').isVisible()).toBe(false);

      await signIn(page, operatorToken);
      await expect.poll(() => page.locator('[data-presence="activeSessions"]').innerText(), EVENTUALLY).toBe('1');
      await expect.poll(() => page.locator('[data-presence="sockets"]').innerText(), EVENTUALLY).toBe('1');
      expect(await page.locator('#ops-who').innerText()).toBe('olivia · operator');
      // The token is kept nowhere in the page; the cookie is HttpOnly.
      expect(
        await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }) + document.cookie),
      ).not.toContain('fcop_');
      const [cookie] = await context.cookies(t.url);
      expect(cookie).toMatchObject({ name: 'flashcast.ops', httpOnly: true, sameSite: 'Strict' });

      // It works: a flash goes out, and the audit view says who sent it.
      await page.fill('#flash-form textarea[name="message"]', 'Hello from the console');
      await page.click('#flash-form [type="submit"]');
      await expect.poll(() => page.locator('#flash-card [data-status]').innerText(), EVENTUALLY).toContain('Sent');
      await page.click('#audit-refresh');
      await expect
        .poll(() => page.locator('#audit-rows tr').first().innerText(), EVENTUALLY)
        .toMatch(/olivia[\s\S]*flash\.push[\s\S]*Hello from the console/);
      await page.fill('#audit-form input[name="action"]', 'sign-in');
      await page.click('#audit-form [type="submit"]');
      await expect.poll(() => page.locator('#audit-rows').innerText(), EVENTUALLY).toMatch(/anonymous[\s\S]*refused 401/);

      // The same session opens Agendash; no Basic prompt anywhere.
      const dash = await context.request.get(`${t.url}/ops/jobs/api/stats`);
      expect(dash.status()).toBe(200);

      await page.click('#sign-out');
      await expect.poll(() => page.locator('#token-form').isVisible(), EVENTUALLY).toBe(true);
      expect(await page.locator('#ops-alert').innerText()).toContain('Signed out');
      expect((await context.request.get(`${t.url}/ops/api/session`)).status()).toBe(401);
      expect((await context.request.get(`${t.url}/ops/jobs/api/stats`)).status()).toBe(401);
    } finally {
      await context.close();
    }
  });
});

describe("when a page on another origin attacks Agendash with the operator's cookie", () => {
  let attacker: Server;
  let attackerUrl: string;
  beforeAll(async () => {
    // The attack: an auto-submitted urlencoded form, as an HTML page on another
    // origin. 127.0.0.1 on another port is the same *site*, so the browser does send our
    // SameSite=Strict cookie: only the Origin check stands between it and Agendash.
    attacker = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const action = url.searchParams.get('action') ?? 'create';
      const fields =
        action === 'create'
          ? '<input name="jobName" value="session-cleanup"><input name="jobRepeatEvery" value="0 0 31 2 *">'
          : `<input name="jobIds" value="${url.searchParams.get('id') ?? ''}">`;
      res.setHeader('content-type', 'text/html');
      res.end(
        `<!doctype html><form id="f" method="POST" action="${t.url}/ops/jobs/api/jobs/${action}">${fields}</form><script>document.getElementById('f').submit()</script>`,
      );
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => attacker.close(() => resolve())));

  it('then every auto-submitted form is refused and nothing changes', async () => {
    const context: BrowserContext = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${t.url}/ops`);
      await signIn(page, operatorToken);
      await expect.poll(() => page.locator('#ops-who').isVisible(), EVENTUALLY).toBe(true);

      const before = await cleanupSchedule();
      expect(before).toHaveLength(1);
      const { rows } = await t.pool.query("SELECT id FROM agenda_jobs WHERE name = 'session-cleanup' AND type = 'single'");
      const auditBefore = (await t.pool.query('SELECT count(*) FROM ops_audit')).rows[0].count;

      for (const action of ['create', 'delete', 'pause', 'requeue']) {
        const victim = await context.newPage();
        const answer = victim.waitForResponse((response) => response.url().includes(`/ops/jobs/api/jobs/${action}`));
        await victim.goto(`${attackerUrl}/?action=${action}&id=${rows[0].id}`);
        const response = await answer;
        expect(response.status(), action).toBe(403);
        // The browser did send the operator's cookie: the refusal is the Origin check's.
        expect((await response.request().allHeaders()).cookie ?? '').toContain('flashcast.ops=');
        await victim.close();
      }
      expect(await cleanupSchedule()).toEqual(before);
      expect((await t.pool.query('SELECT count(*) FROM ops_audit')).rows[0].count).toBe(auditBefore);
      // The operator's own session is untouched and still works.
      expect((await context.request.get(`${t.url}/ops/api/session`)).status()).toBe(200);
    } finally {
      await context.close();
    }
  });
});

describe('when a person looks at the console at desktop and phone widths', () => {
  it('then the sign-in and the audit view fit (screenshots for a person to judge)', async () => {
    for (const width of [1280, 390]) {
      const context = await browser.newContext({ viewport: { width, height: 900 } });
      try {
        const page = await context.newPage();
        await page.goto(`${t.url}/ops`);
        await expect.poll(() => page.locator('#token-form').isVisible(), EVENTUALLY).toBe(true);
        await page.screenshot({ path: path.join(SCREENSHOT_DIR, `ops-sign-in-${width}.png`) });
        await signIn(page, operatorToken);
        await expect.poll(() => page.locator('#audit-rows tr').count(), EVENTUALLY).toBeGreaterThan(1);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect(overflow).toBeLessThanOrEqual(0);
        await page.locator('#audit-card').screenshot({ path: path.join(SCREENSHOT_DIR, `ops-audit-${width}.png`) });
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: path.join(SCREENSHOT_DIR, `ops-signed-in-${width}.png`) });
      } finally {
        await context.close();
      }
    }
  });
});
