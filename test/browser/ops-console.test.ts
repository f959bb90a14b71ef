import { randomUUID } from 'node:crypto';
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

describe("when an operator goes through a day's work in the console", () => {
  it('then a promotion is created and edited, a round shows its result, presence moves, and a countdown starts only once confirmed', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const visitor = new Visitor(t.url);
    let visitorSocket: TestSocket | undefined;
    try {
      const page = await context.newPage();
      await page.goto(`${t.url}/ops`);
      await signIn(page, operatorToken);
      const sockets = page.locator('[data-presence="sockets"]');
      await expect.poll(() => sockets.innerText(), EVENTUALLY).toMatch(/^\d+$/);

      // Presence moves when a visitor connects, and the chart has labelled axes.
      const before = Number(await sockets.innerText());
      expect((await visitor.request('/cart')).status).toBe(200);
      visitorSocket = openSocket(t.url, visitor);
      await connected(visitorSocket);
      await expect.poll(async () => Number(await sockets.innerText()), EVENTUALLY).toBe(before + 1);
      const chart = page.locator('#presence-chart svg');
      expect(await chart.locator('.time-chart__axis-title').allTextContents()).toEqual(['count', 'time']);
      expect(await chart.locator('polyline').count()).toBe(2);
      expect(await chart.locator('.time-chart__tick').count()).toBeGreaterThan(3);

      // A promotion, created then edited.
      const name = `Spring sale ${randomUUID().slice(0, 8)}`;
      await page.click('.new-promotion summary');
      await page.fill('#promotion-form input[name="name"]', name);
      await page.fill('#promotion-form input[name="callToAction"]', 'Ten percent off everything');
      await page.click('#promotion-form [type="submit"]');
      const promotion = page.locator('[data-promotion-id]', { hasText: name });
      await expect.poll(() => promotion.count(), EVENTUALLY).toBe(1);
      const id = await promotion.getAttribute('data-promotion-id');
      await promotion.getByRole('button', { name: 'Edit' }).click();
      const edit = page.locator(`[data-promotion-edit="${id}"]`);
      await edit.locator('input[name="name"]').fill(`${name} (extended)`);
      await edit.locator('input[name="callToAction"]').fill('Twenty percent off, this week only');
      await edit.locator('input[name="weight"]').fill('3');
      await edit.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => page.locator('#promotions-card [data-status]').innerText(), EVENTUALLY).toContain('saved');
      const edited = page.locator(`[data-promotion-id="${id}"]`);
      await expect.poll(() => edited.innerText(), EVENTUALLY).toContain(`${name} (extended)`);
      expect(await edited.innerText()).toMatch(/Twenty percent off, this week only[\s\S]*|weight 3/);
      const stored = await fetch(`${t.url}/ops/api/promotions/${id}`, { headers: opsHeaders(TEST_OPS_TOKEN) });
      expect(await stored.json()).toMatchObject({
        name: `${name} (extended)`,
        callToAction: 'Twenty percent off, this week only',
        weight: 3,
      });

      // A round, run now: its result, outcome and duration, in words.
      const round = page.locator('[data-job="promotion-round"]');
      await round.getByRole('button', { name: 'Run now' }).click();
      await expect
        .poll(() => page.locator('#jobs-card [data-status]').innerText(), EVENTUALLY)
        .toMatch(/promotion-round finished in [\d.]+ m?s: \d+ sessions? given a promotion/);
      await expect.poll(() => round.locator('[data-job-result]').innerText(), EVENTUALLY).toMatch(/given a promotion/);
      expect(await round.locator('[data-job-outcome]').innerText()).toBe('ok');
      expect(await round.locator('[data-job-duration]').innerText()).toMatch(/^[\d.]+ m?s$/);
      await page.locator('#jobs-card').screenshot({ path: path.join(SCREENSHOT_DIR, 'ops-jobs-day-1280.png') });

      // The countdown asks first: going back starts nothing; confirming starts it.
      const state = page.locator('[data-maintenance-state]');
      await page.fill('#maintenance-form input[name="seconds"]', '300');
      await page.click('#maintenance-form [type="submit"]');
      await expect.poll(() => page.locator('#maintenance-confirm').isVisible(), EVENTUALLY).toBe(true);
      expect(await page.locator('#maintenance-confirm').innerText()).toContain('300-second countdown');
      const maintenance = async () =>
        ((await (await fetch(`${t.url}/ops/api/maintenance`, { headers: opsHeaders(TEST_OPS_TOKEN) })).json()) as { state: string }).state;
      expect(await maintenance()).toBe('idle');
      await page.click('#maintenance-confirm-no');
      expect(await page.locator('#maintenance-form').isVisible()).toBe(true);
      expect(await maintenance()).toBe('idle');

      await page.click('#maintenance-form [type="submit"]');
      await page.click('#maintenance-confirm-yes');
      await expect.poll(() => state.innerText(), EVENTUALLY).toBe('countdown');
      expect(await maintenance()).toBe('countdown');
      await page.locator('#maintenance-card').screenshot({ path: path.join(SCREENSHOT_DIR, 'ops-maintenance-countdown-1280.png') });
      await page.click('#maintenance-stop');
      await expect.poll(() => state.innerText(), EVENTUALLY).toBe('idle');
      const maintenanceStatus = page.locator('#maintenance-card [data-status]');
      expect(await maintenanceStatus.innerText()).toBe('Countdown cancelled.');
      // A success does not stay on the status line.
      await expect.poll(() => maintenanceStatus.innerText(), EVENTUALLY).toBe('');
      await page.locator('#presence-card').screenshot({ path: path.join(SCREENSHOT_DIR, 'ops-presence-day-1280.png') });
    } finally {
      visitorSocket?.disconnect();
      await context.close();
    }
  }, 90_000);
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
  it('then the sign-in, every card and the audit view fit (screenshots for a person to judge)', async () => {
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
        await expect.poll(() => page.locator('#jobs-list [data-job]').count(), EVENTUALLY).toBeGreaterThan(0);
        for (const card of ['presence', 'sessions', 'flash', 'promotions', 'jobs']) {
          await page.locator(`#${card}-card`).screenshot({ path: path.join(SCREENSHOT_DIR, `ops-${card}-${width}.png`) });
        }
        // The countdown's confirm step, and a promotion's edit form, then back out of both.
        await page.click('#maintenance-form [type="submit"]');
        await page.locator('#maintenance-card').screenshot({ path: path.join(SCREENSHOT_DIR, `ops-maintenance-confirm-${width}.png`) });
        await page.click('#maintenance-confirm-no');
        const promotion = page.locator('[data-promotion-id]').first();
        if ((await promotion.count()) > 0) {
          await promotion.getByRole('button', { name: 'Edit' }).click();
          await promotion.screenshot({ path: path.join(SCREENSHOT_DIR, `ops-promotion-edit-${width}.png`) });
          await page.locator('.promo--editing').getByRole('button', { name: 'Cancel' }).click();
        }
        expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(
          0,
        );
      } finally {
        await context.close();
      }
    }
  }, 90_000);
});
