import { escapeHtml } from '../../common/markup.ts';
import type { PageAssets } from './assets.ts';

/**
 * Markup for the server's pages: `html` escapes every interpolated value; only markup built by
 * `html` itself (or marked `trusted`, for the code's own constant scripts and styles) passes
 * through unescaped. Flash messages are text, never markup.
 */

export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** A constant of the code's own (an inline script or style), never input. */
export const trusted = (value: string): SafeHtml => new SafeHtml(value);

function renderValue(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(renderValue).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** Markup with every `${value}` escaped, unless the value is itself `html` output. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += renderValue(value) + (strings[index + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** The `<head>` of a page that loads Vite's build (the store's pages and the ops console). */
export function head(title: string, entry: PageAssets): SafeHtml {
  return html`<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>${title}</title>
${entry.styles.map((href) => html`<link rel="stylesheet" href="${href}">\n`)}${entry.scripts.map(
  (src) => html`<script type="module" src="${src}"></script>\n`,
)}${(entry.preloads ?? []).map((href) => html`<link rel="modulepreload" href="${href}">\n`)}`;
}
