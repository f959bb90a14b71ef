/// <reference types="vite/client" />
/**
 * The store pages' script: the banner widget, and "Add to cart" without a page load.
 * Loaded as a module (deferred), so the server-rendered DOM is complete when this runs.
 */
import './visitor.css';
import type { ApiError } from '../../protocol/events.ts';
import { startBannerWidget } from './banner-widget.ts';

const region = document.querySelector<HTMLElement>('[data-flash-region]');
if (region) startBannerWidget(region);

function errorMessage(body: unknown): string | undefined {
  const message = (body as Partial<ApiError> | undefined)?.error?.message;
  return typeof message === 'string' && message !== '' ? message : undefined;
}

/** The cart's item count from the API's answer, if it tells; its shape is the server's choice. */
function countFrom(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as Record<string, unknown>;
  for (const name of ['cartCount', 'count', 'itemCount']) {
    const value = record[name];
    if (typeof value === 'number' && Number.isFinite(value)) return value;
  }
  const items = record.items ?? (record.cart as Record<string, unknown> | undefined)?.items;
  if (Array.isArray(items)) {
    return items.reduce<number>((sum, item) => sum + (Number((item as { qty?: unknown }).qty) || 0), 0);
  }
  return undefined;
}

function setCartCount(count: number): void {
  for (const badge of document.querySelectorAll<HTMLElement>('[data-cart-count]')) {
    badge.textContent = String(count);
    badge.setAttribute('aria-label', `${count} ${count === 1 ? 'item' : 'items'}`);
  }
}

function enhanceAddToCart(form: HTMLFormElement): void {
  const sku = form.dataset.sku;
  const input = form.querySelector<HTMLInputElement>('input[name="qty"]');
  const button = form.querySelector<HTMLButtonElement>('button[type="submit"]');
  const status = form.querySelector<HTMLElement>('[data-add-to-cart-status]');
  if (!sku || !input || !button || !status) return;

  const report = (state: 'pending' | 'ok' | 'error', text: string) => {
    status.dataset.state = state;
    status.textContent = text;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const qty = Math.trunc(Number(input.value));
    if (!Number.isFinite(qty) || qty < 1 || qty > 99) {
      report('error', 'Choose a quantity from 1 to 99.');
      input.focus();
      return;
    }
    button.disabled = true;
    report('pending', 'Adding…');
    try {
      const response = await fetch('/api/cart/items', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ sku, qty }),
        credentials: 'same-origin',
      });
      const body: unknown = await response.json().catch(() => undefined);
      if (!response.ok) {
        const fallback =
          response.status === 503
            ? 'The store is down for maintenance; try again in a moment.'
            : `Could not add to the cart (HTTP ${response.status}).`;
        report('error', errorMessage(body) ?? fallback);
        return;
      }
      const badge = document.querySelector<HTMLElement>('[data-cart-count]');
      const count = countFrom(body) ?? (Number(badge?.textContent) || 0) + qty;
      setCartCount(count);
      report('ok', `Added ${qty} to your cart.`);
    } catch {
      report('error', 'Network problem: nothing was added. Try again.');
    } finally {
      button.disabled = false;
    }
  });
}

for (const form of document.querySelectorAll<HTMLFormElement>('form[data-add-to-cart]')) enhanceAddToCart(form);
