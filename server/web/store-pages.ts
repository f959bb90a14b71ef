import { bannerMarkup } from '../../common/flash-banner.ts';
import { markupToHtml } from '../../common/markup.ts';
import type { Flash } from '../../protocol/events.ts';
import type { Product } from '../shop/catalog.ts';
import type { PageAssets } from './assets.ts';
import { head, html, type SafeHtml, trusted } from './html.ts';

/**
 * The store's pages, as pure functions returning whole HTML documents.
 *
 * Each pending flash is rendered as the banner the widget would build for it
 * (common/flash-banner.ts, one function for both); the widget adopts these banners instead of
 * drawing them again.
 */

export const STORE_NAME = 'flashcast store';

const money = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' });
const formatPrice = (cents: number) => money.format(cents / 100);

const productHref = (sku: string) => `/products/${encodeURIComponent(sku)}`;

/** One of six artwork gradients, chosen by the sku so a product always looks the same. */
function artClass(sku: string): string {
  let hash = 0;
  for (const char of sku) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `art-${hash % 6}`;
}

/** The live region the widget draws into; server-rendered flashes start inside it. */
function bannerRegion(flashes: readonly Flash[]): SafeHtml {
  return html`<div class="fc-banners" data-flash-region aria-live="polite" aria-label="Messages">
${flashes.map((flash) => trusted(`${markupToHtml(bannerMarkup(flash.key, flash.message, flash))}\n`))}</div>`;
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
