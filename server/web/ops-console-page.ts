import type { PageAssets } from './assets.ts';
import { head, html } from './html.ts';

/**
 * The console's shell. It holds nothing secret: the token is pasted in the browser and every
 * call to /ops/api carries it, so the server may serve this page without authentication.
 */
export function renderOpsConsole({ assets }: { assets: PageAssets }): string {
  return html`<!doctype html>
<html lang="en">
<head>
${head('flashcast ops', assets)}
<meta name="robots" content="noindex">
</head>
<body class="ops">
<header class="ops-header">
  <h1 class="ops-header__title">flashcast <span>ops</span></h1>
  <nav class="ops-header__nav" aria-label="Ops">
    <a href="/ops/jobs" target="_blank" rel="noopener">Agendash ↗</a>
    <a href="/" target="_blank" rel="noopener">Store ↗</a>
    <span class="ops-who" id="ops-who" hidden></span>
    <button type="button" class="ops-button ops-button--ghost" id="sign-out" hidden>Sign out</button>
  </nav>
</header>
<div class="ops-alert" id="ops-alert" role="alert" hidden></div>
<noscript><p class="ops-alert">The ops console needs JavaScript.</p></noscript>

<form class="ops-card token-form" id="token-form" hidden>
  <h2>Sign in</h2>
  <p>Paste your ops token: an operator token from <code>npm run ops -- operators create</code>, or the administrator's <code>OPS_TOKEN</code> (in development it is printed at start). The console keeps a session cookie, never the token; the session ends after 30 minutes without use, or when you sign out.</p>
  <label class="field"><span>Ops token</span><input type="password" name="token" autocomplete="off" spellcheck="false" required></label>
  <button type="submit" class="ops-button">Sign in</button>
</form>

<main class="ops-grid" id="ops-main" hidden>
  <section class="ops-card" id="presence-card" aria-labelledby="presence-title">
    <h2 id="presence-title">Live presence <span class="live-dot" aria-hidden="true"></span></h2>
    <div class="stats">
      <div class="stat stat--sessions"><span class="stat__value" data-presence="activeSessions">–</span><span class="stat__label">active visitors</span></div>
      <div class="stat stat--sockets"><span class="stat__value" data-presence="sockets">–</span><span class="stat__label">open sockets</span></div>
    </div>
    <div class="time-chart-box" id="presence-chart"></div>
    <p class="card-status" data-status></p>
  </section>

  <section class="ops-card" id="sessions-card" aria-labelledby="sessions-title">
    <h2 id="sessions-title">Sessions</h2>
    <div class="stats stats--four">
      <div class="stat"><span class="stat__value" data-session-stat="total">–</span><span class="stat__label">total</span></div>
      <div class="stat"><span class="stat__value" data-session-stat="active">–</span><span class="stat__label">active</span></div>
      <div class="stat"><span class="stat__value" data-session-stat="expired">–</span><span class="stat__label">expired</span></div>
      <div class="stat"><span class="stat__value" data-session-stat="carts">–</span><span class="stat__label">carts</span></div>
    </div>
    <p class="card-status" data-status></p>
  </section>

  <section class="ops-card" id="maintenance-card" aria-labelledby="maintenance-title">
    <h2 id="maintenance-title">Maintenance</h2>
    <p class="maintenance-state">State: <strong data-maintenance-state>–</strong> <span data-maintenance-left></span></p>
    <form id="maintenance-form" class="form-grid">
      <label class="field"><span>Seconds</span><input type="number" name="seconds" value="30" min="1" step="1" required></label>
      <label class="field field--wide"><span>Message (optional)</span><input type="text" name="message" maxlength="500" placeholder="Back in five minutes"></label>
      <button type="submit" class="ops-button ops-button--warn">Start countdown…</button>
    </form>
    <div class="confirm" id="maintenance-confirm" role="group" aria-labelledby="maintenance-confirm-text" hidden>
      <p id="maintenance-confirm-text"></p>
      <div class="confirm__actions">
        <button type="button" class="ops-button ops-button--warn" id="maintenance-confirm-yes">Yes, start the countdown</button>
        <button type="button" class="ops-button ops-button--ghost" id="maintenance-confirm-no">Back</button>
      </div>
    </div>
    <button type="button" class="ops-button ops-button--ghost" id="maintenance-stop" hidden>Cancel</button>
    <p class="card-status" data-status></p>
  </section>

  <section class="ops-card" id="flash-card" aria-labelledby="flash-title">
    <h2 id="flash-title">Send a flash</h2>
    <form id="flash-form" class="form-grid">
      <fieldset class="field field--wide radio-row">
        <legend>To</legend>
        <label><input type="radio" name="to" value="active" checked> active visitors</label>
        <label><input type="radio" name="to" value="all"> every session</label>
      </fieldset>
      <label class="field"><span>Key</span><input type="text" name="key" value="notice" list="flash-keys" pattern="[A-Za-z0-9_\\-]{1,32}" maxlength="32" required></label>
      <datalist id="flash-keys"><option value="notice"><option value="alert"><option value="promotion"><option value="maintenance"></datalist>
      <label class="field field--wide"><span>Message</span><textarea name="message" rows="2" maxlength="1000" required></textarea></label>
      <button type="submit" class="ops-button">Send</button>
    </form>
    <p class="card-status" data-status></p>
  </section>

  <section class="ops-card ops-card--wide" id="promotions-card" aria-labelledby="promotions-title">
    <div class="card-head">
      <h2 id="promotions-title">Promotions</h2>
      <button type="button" class="ops-button ops-button--ghost" id="promotions-refresh">Refresh</button>
    </div>
    <div id="promotions-list" class="promotions"></div>
    <details class="new-promotion">
      <summary>New promotion</summary>
      <form id="promotion-form" class="form-grid">
        <label class="field"><span>Name</span><input type="text" name="name" maxlength="200" required></label>
        <label class="field field--wide"><span>Call to action (the banner's text)</span><input type="text" name="callToAction" maxlength="1000" required></label>
        <label class="field field--wide"><span>Link (optional)</span><input type="text" name="url" inputmode="url" placeholder="https://… or /products/…" pattern="(https?://|/).*"></label>
        <label class="field"><span>Weight</span><input type="number" name="weight" min="1" step="1" placeholder="1"></label>
        <label class="field"><span>Starts (optional)</span><input type="datetime-local" name="startsAt"></label>
        <label class="field"><span>Ends (optional)</span><input type="datetime-local" name="endsAt"></label>
        <label class="checkbox"><input type="checkbox" name="active" checked> active</label>
        <button type="submit" class="ops-button">Create</button>
      </form>
    </details>
    <p class="card-status" data-status></p>
  </section>

  <section class="ops-card ops-card--wide" id="jobs-card" aria-labelledby="jobs-title">
    <div class="card-head">
      <h2 id="jobs-title">Jobs</h2>
      <span><a href="/ops/jobs" target="_blank" rel="noopener">Agendash ↗</a>
      <button type="button" class="ops-button ops-button--ghost" id="jobs-refresh">Refresh</button></span>
    </div>
    <div id="jobs-list" class="jobs"></div>
    <p class="card-status" data-status></p>
  </section>

  <section class="ops-card ops-card--wide" id="audit-card" aria-labelledby="audit-title">
    <div class="card-head">
      <h2 id="audit-title">Audit trail</h2>
      <button type="button" class="ops-button ops-button--ghost" id="audit-refresh">Refresh</button>
    </div>
    <form id="audit-form" class="audit-filters">
      <label class="field"><span>Who</span><input type="text" name="actor" maxlength="64" placeholder="any" spellcheck="false"></label>
      <label class="field"><span>Action</span><input type="text" name="action" maxlength="64" placeholder="any, or a prefix: job." list="audit-actions" spellcheck="false"></label>
      <datalist id="audit-actions"><option value="sign-in"><option value="flash."><option value="promotion."><option value="job."><option value="maintenance."><option value="operator."><option value="agendash."></datalist>
      <label class="field"><span>Result</span><select name="result"><option value="">any</option><option>ok</option><option>refused</option><option>invalid</option><option>failed</option><option>limited</option></select></label>
      <button type="submit" class="ops-button">Filter</button>
    </form>
    <div class="audit-scroll">
      <table class="audit-table">
        <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Result</th><th scope="col">From</th></tr></thead>
        <tbody id="audit-rows"></tbody>
      </table>
    </div>
    <button type="button" class="ops-button ops-button--ghost" id="audit-older" hidden>Older entries</button>
    <p class="card-status" data-status></p>
  </section>
</main>
</body>
</html>
`.value;
}
