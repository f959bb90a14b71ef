import { createHash } from 'node:crypto';
import type { Flash } from '../../protocol/events.ts';
import type { Product } from '../store/catalog.ts';
import type { PageAssets } from './assets.ts';
import { promotionOf, splitCountdownMessage, toneOf } from '../../client/visitor/banner-logic.ts';

/**
 * The visitor pages and the ops console's shell, as pure functions returning whole HTML
 * documents. Every interpolated value goes through `html`, which escapes it; only markup built
 * by `html` itself passes through unescaped. Flash messages are text, never markup.
 *
 * Page hooks (CONTRACT.md): each pending flash is an element with `data-flash-id` and
 * `data-flash-key` whose text is the message; a countdown's seconds sit in an element with
 * `data-maintenance-countdown`. The banner widget (client/visitor/banner-widget.ts) adopts
 * these elements instead of drawing them again, so the markup here and there must agree.
 */

// ---------------------------------------------------------------------------------------------
// Escaping

class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => escapes[char] ?? char);
}

function renderValue(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(renderValue).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** Markup with every `${value}` escaped, unless the value is itself `html` output. */
function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += renderValue(value) + (strings[index + 1] ?? '');
  });
  return new SafeHtml(out);
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

const STORE_NAME = 'flashcast store';

const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const formatPrice = (cents: number) => money.format(cents / 100);

const productHref = (sku: string) => `/products/${encodeURIComponent(sku)}`;

/** One of six artwork gradients, chosen by the sku so a product always looks the same. */
function artClass(sku: string): string {
  let hash = 0;
  for (const char of sku) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `art-${hash % 6}`;
}

const toneLabels: Record<string, string> = {
  notice: 'Notice',
  alert: 'Alert',
  promotion: 'Offer',
  maintenance: 'Maintenance',
};

/** The text of a flash, with a countdown's number in its own element when it has one. */
function flashMessage(flash: Flash): SafeHtml {
  const parts = flash.key === 'maintenance' ? splitCountdownMessage(flash.message) : undefined;
  if (!parts) return html`${flash.message}`;
  return html`${parts.before}<span class="fc-countdown" data-maintenance-countdown role="timer">${parts.seconds}</span>${parts.after}`;
}

/**
 * One banner. The dismiss button is hidden until the widget adopts the banner: without
 * JavaScript it could do nothing.
 */
function flashBanner(flash: Flash): SafeHtml {
  const tone = toneOf(flash.key);
  const promotion = promotionOf(flash);
  const deadline = typeof flash.data?.deadline === 'string' ? flash.data.deadline : undefined;
  // No role of its own: the region is the live region, and nested ones announce twice.
  return html`<div class="fc-banner fc-banner--${tone}" data-banner-key="${flash.key}"${
    promotion?.promotionId !== undefined ? html` data-promotion-id="${promotion.promotionId}"` : ''
  }${deadline ? html` data-maintenance-deadline="${deadline}"` : ''}>
  <span class="fc-banner__tag">${toneLabels[flash.key] ?? flash.key}</span>
  <p class="fc-banner__body"><span class="fc-banner__message" data-flash-id="${flash.id}" data-flash-key="${flash.key}" data-flash-created-at="${flash.createdAt}">${flashMessage(flash)}</span></p>
  ${promotion?.url ? html`<a class="fc-banner__cta" href="${promotion.url}" data-promotion-cta>View offer</a>` : ''}
  <button type="button" class="fc-banner__dismiss" data-banner-dismiss aria-label="Dismiss" title="Dismiss" hidden>×</button>
</div>`;
}

/** The live region the widget draws into; server-rendered flashes start inside it. */
function bannerRegion(flashes: readonly Flash[]): SafeHtml {
  return html`<div class="fc-banners" data-flash-region aria-live="polite" aria-label="Messages">
${flashes.map((flash) => flashBanner(flash))}
</div>`;
}

function head(title: string, entry: PageAssets): SafeHtml {
  return html`<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>${title}</title>
${entry.styles.map((href) => html`<link rel="stylesheet" href="${href}">\n`)}${entry.scripts.map(
  (src) => html`<script type="module" src="${src}"></script>\n`,
)}${(entry.preloads ?? []).map((href) => html`<link rel="modulepreload" href="${href}">\n`)}`;
}

interface StoreLayout {
  title: string;
  assets: PageAssets;
  flashes: readonly Flash[];
  /** Items in the cart, shown in the header; omitted where the page does not know it. */
  cartCount?: number;
  main: SafeHtml;
}

function storePage({ title, assets, flashes, cartCount, main }: StoreLayout): string {
  const pageTitle = title === STORE_NAME ? title : `${title} · ${STORE_NAME}`;
  return html`<!doctype html>
<html lang="en">
<head>
${head(pageTitle, assets)}
</head>
<body class="store">
<a class="skip-link" href="#main">Skip to content</a>
${bannerRegion(flashes)}
<header class="site-header">
  <a class="site-header__brand" href="/">flashcast<span class="site-header__suffix"> store</span></a>
  <nav class="site-header__nav" aria-label="Store">
    <a href="/">Shop</a>
    <a class="cart-link" href="/cart">Cart${
      cartCount === undefined
        ? ''
        : html` <span class="cart-link__count" data-cart-count aria-label="${cartCount} ${cartCount === 1 ? 'item' : 'items'}">${cartCount}</span>`
    }</a>
  </nav>
</header>
<main id="main" class="page">
${main}
</main>
<footer class="site-footer"><p>A demo store. The banners are the point.</p></footer>
</body>
</html>
`.value;
}

function productCard(product: Product): SafeHtml {
  return html`<li class="product-card">
  <a class="product-card__link" href="${productHref(product.sku)}">
    <span class="product-art ${artClass(product.sku)}" aria-hidden="true"></span>
    <span class="product-card__name">${product.name}</span>
    <span class="product-card__description">${product.description}</span>
    <span class="product-card__price">${formatPrice(product.priceCents)}</span>
  </a>
</li>`;
}

// ---------------------------------------------------------------------------------------------
// Visitor pages

export interface HomePageInput {
  flashes: readonly Flash[];
  products: readonly Product[];
  cartCount: number;
  assets: PageAssets;
}

export function renderHome({ flashes, products, cartCount, assets }: HomePageInput): string {
  return storePage({
    title: STORE_NAME,
    assets,
    flashes,
    cartCount,
    main: html`<section class="hero">
  <h1>Things you didn't know you needed</h1>
  <p>Widgets, gadgets and the odd doohickey, shipped the day you order.</p>
</section>
<h2 class="section-title">All products</h2>
<ul class="product-grid">
${products.map((product) => productCard(product))}
</ul>`,
  });
}

export interface ProductPageInput {
  product: Product;
  recentlyViewed: readonly Product[];
  flashes: readonly Flash[];
  cartCount: number;
  assets: PageAssets;
}

export function renderProduct({ product, recentlyViewed, flashes, cartCount, assets }: ProductPageInput): string {
  const others = recentlyViewed.filter((viewed) => viewed.sku !== product.sku);
  return storePage({
    title: product.name,
    assets,
    flashes,
    cartCount,
    main: html`<nav class="breadcrumb" aria-label="Breadcrumb"><a href="/">Shop</a> <span aria-hidden="true">/</span> <span>${product.name}</span></nav>
<article class="product">
  <span class="product-art product-art--large ${artClass(product.sku)}" aria-hidden="true"></span>
  <div class="product__details">
    <h1 class="product__name">${product.name}</h1>
    <p class="product__price">${formatPrice(product.priceCents)}</p>
    <p class="product__description">${product.description}</p>
    <form class="add-to-cart" data-add-to-cart data-sku="${product.sku}">
      <label class="add-to-cart__qty">Quantity
        <input type="number" name="qty" value="1" min="1" max="99" step="1" inputmode="numeric" required>
      </label>
      <button type="submit" class="button">Add to cart</button>
      <p class="add-to-cart__status" data-add-to-cart-status role="status" aria-live="polite"></p>
    </form>
  </div>
</article>
${
  others.length > 0
    ? html`<section class="recently-viewed" aria-labelledby="recently-viewed-title">
  <h2 id="recently-viewed-title" class="section-title">Recently viewed</h2>
  <ul class="product-grid product-grid--compact">
${others.map((viewed) => productCard(viewed))}
  </ul>
</section>`
    : ''
}`,
  });
}

export interface CartLine {
  product: Product;
  qty: number;
}

export interface CartPageInput {
  lines: readonly CartLine[];
  flashes: readonly Flash[];
  assets: PageAssets;
}

export function renderCart({ lines, flashes, assets }: CartPageInput): string {
  const count = lines.reduce((sum, line) => sum + line.qty, 0);
  const total = lines.reduce((sum, line) => sum + line.qty * line.product.priceCents, 0);
  const body =
    lines.length === 0
      ? html`<p class="empty">Your cart is empty. <a href="/">Find something nice</a>.</p>`
      : html`<table class="cart-table">
  <thead><tr><th scope="col">Product</th><th scope="col" class="num">Qty</th><th scope="col" class="num">Price</th><th scope="col" class="num">Subtotal</th></tr></thead>
  <tbody>
${lines.map(
  (line) => html`    <tr data-cart-line data-sku="${line.product.sku}">
      <th scope="row"><a href="${productHref(line.product.sku)}">${line.product.name}</a></th>
      <td class="num" data-label="Qty">${line.qty}</td>
      <td class="num" data-label="Price">${formatPrice(line.product.priceCents)}</td>
      <td class="num" data-label="Subtotal">${formatPrice(line.qty * line.product.priceCents)}</td>
    </tr>
`,
)}  </tbody>
  <tfoot><tr><th scope="row" colspan="3">Total</th><td class="num" data-cart-total>${formatPrice(total)}</td></tr></tfoot>
</table>`;
  return storePage({
    title: 'Your cart',
    assets,
    flashes,
    cartCount: count,
    main: html`<h1>Your cart</h1>
${body}
<p><a href="/">← Keep shopping</a></p>`,
  });
}

export function renderNotFound({ assets }: { assets: PageAssets }): string {
  return storePage({
    title: 'Page not found',
    assets,
    flashes: [],
    main: html`<section class="not-found">
  <h1>Page not found</h1>
  <p>We couldn't find that page. It may have moved, or never existed.</p>
  <p><a class="button" href="/">Back to the shop</a></p>
</section>`,
  });
}

// ---------------------------------------------------------------------------------------------
// Maintenance page

/**
 * The maintenance page polls `GET /` and reloads once the site answers with anything but 503
 * (or a 5xx from a proxy while the app restarts), so open tabs come back by themselves. It is
 * static text, so its hash is fixed: a Content-Security-Policy can allow it by
 * `maintenanceScriptHash` (or pass a `nonce`).
 */
const maintenanceScript = `(function () {
  var retry = Number(document.documentElement.getAttribute('data-retry-after')) || 5;
  var every = Math.min(Math.max(retry, 2), 5) * 1000;
  function later() { setTimeout(check, every + Math.random() * 1000); }
  function check() {
    fetch('/', { cache: 'no-store', credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (response) {
        if (response.status < 500) location.reload(); else later();
      }, later);
  }
  later();
})();`;

/** For `script-src`: the CSP source that allows the maintenance page's inline script. */
export const maintenanceScriptHash = `'sha256-${createHash('sha256').update(maintenanceScript).digest('base64')}'`;

export interface MaintenancePageInput {
  message?: string;
  retryAfterSeconds: number;
  /** A CSP nonce for the inline script, if the policy uses nonces rather than the hash. */
  nonce?: string;
}

const maintenanceCss = `
*,*::before,*::after{box-sizing:border-box}
html{color-scheme:light dark}
body{margin:0;min-height:100vh;display:grid;place-items:center;padding:1.5rem;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;
background:linear-gradient(160deg,#eef2ff 0%,#fdf2f8 100%)}
main{max-width:32rem;width:100%;background:#fff;border-radius:1rem;padding:2rem 1.75rem;
box-shadow:0 10px 30px rgba(30,41,59,.12);text-align:center}
.icon{width:3.5rem;height:3.5rem;margin:0 auto 1rem;border-radius:50%;display:grid;place-items:center;
background:#fef3c7;color:#92400e;font-size:1.75rem}
h1{margin:0 0 .5rem;font-size:1.5rem;line-height:1.25}
p{margin:.5rem 0;color:#4b5563}
.message{color:#1f2937;font-weight:600}
.small{font-size:.875rem}
@media (prefers-color-scheme:dark){body{background:#0f172a;color:#e2e8f0}main{background:#1e293b}
h1,.message{color:#f8fafc}p{color:#cbd5e1}}
`;

/**
 * For `style-src`: the CSP source that allows the inline style of the maintenance page and
 * of the too-many-requests page, so neither policy needs 'unsafe-inline'.
 */
export const pageStyleHash = `'sha256-${createHash('sha256').update(maintenanceCss).digest('base64')}'`;

export function renderMaintenance({ message, retryAfterSeconds, nonce }: MaintenancePageInput): string {
  const retry = Math.max(1, Math.round(retryAfterSeconds));
  return html`<!doctype html>
<html lang="en" data-retry-after="${retry}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Back soon · ${STORE_NAME}</title>
<noscript><meta http-equiv="refresh" content="${retry}"></noscript>
<style>${new SafeHtml(maintenanceCss)}</style>
</head>
<body>
<main>
  <div class="icon" aria-hidden="true">⚙</div>
  <h1>We'll be right back</h1>
  ${message ? html`<p class="message" data-maintenance-message>${message}</p>` : ''}
  <p>The store is down for maintenance. This page reloads by itself as soon as we're back.</p>
  <p class="small">Checking again every few seconds.</p>
</main>
<script${nonce ? html` nonce="${nonce}"` : ''}>${new SafeHtml(maintenanceScript)}</script>
</body>
</html>
`.value;
}

/**
 * What a page request gets when its address starts new sessions faster than
 * SESSION_RATE_LIMIT allows (429): static text, no script and no reload loop, since
 * reloading is what it asks the client not to do.
 */
export function renderTooManyRequests({ retryAfterSeconds }: { retryAfterSeconds: number }): string {
  const retry = Math.max(1, Math.round(retryAfterSeconds));
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Too many requests · ${STORE_NAME}</title>
<style>${new SafeHtml(maintenanceCss)}</style>
</head>
<body>
<main>
  <h1>Too many new visits from your network</h1>
  <p>Please wait ${retry} ${retry === 1 ? 'second' : 'seconds'}, then reload the page.</p>
  <p class="small">If your browser refuses cookies, allowing them for this site avoids this.</p>
</main>
</body>
</html>
`.value;
}

// ---------------------------------------------------------------------------------------------
// Ops console

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
      <div class="stat"><span class="stat__value" data-presence="activeSessions">–</span><span class="stat__label">active visitors</span></div>
      <div class="stat"><span class="stat__value" data-presence="sockets">–</span><span class="stat__label">open sockets</span></div>
    </div>
    <div class="sparkline" id="presence-chart" aria-hidden="true"></div>
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
      <button type="submit" class="ops-button ops-button--warn">Start countdown</button>
    </form>
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
