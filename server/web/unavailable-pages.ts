import { createHash } from 'node:crypto';
import { html, trusted } from './html.ts';
import { STORE_NAME } from './store-pages.ts';

/**
 * The pages served instead of the store: the maintenance page (503) and the too-many-requests
 * page (429). Self-contained (inline style, no Vite build), since they answer when the store
 * cannot.
 */

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
<style>${trusted(maintenanceCss)}</style>
</head>
<body>
<main>
  <div class="icon" aria-hidden="true">⚙</div>
  <h1>We'll be right back</h1>
  ${message ? html`<p class="message" data-maintenance-message>${message}</p>` : ''}
  <p>The store is down for maintenance. This page reloads by itself as soon as we're back.</p>
  <p class="small">Checking again every few seconds.</p>
</main>
<script${nonce ? html` nonce="${nonce}"` : ''}>${trusted(maintenanceScript)}</script>
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
<style>${trusted(maintenanceCss)}</style>
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
