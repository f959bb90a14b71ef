/**
 * A small description of markup that both sides can build: the server serialises it to an
 * HTML string (`markupToHtml`, every text and attribute escaped), the browser turns it into
 * DOM nodes (client/visitor/banner-widget.ts, text set as text). So one function decides what
 * an element looks like, and neither side ever parses a message as markup.
 */

export interface MarkupElement {
  tag: string;
  /** `true` is an attribute without a value (`hidden`, `data-banner-dismiss`). */
  attrs: Record<string, string | true>;
  children: MarkupNode[];
}

/** A string is text. */
export type MarkupNode = string | MarkupElement;

/** An element; attributes given as `undefined` are left out. */
export function element(tag: string, attrs: Record<string, string | true | undefined>, ...children: MarkupNode[]): MarkupElement {
  const kept: Record<string, string | true> = {};
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined) kept[name] = value;
  return { tag, attrs: kept, children };
}

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => escapes[char] ?? char);
}

const attributeName = /^[a-z][a-z0-9-]*$/;

export function markupToHtml(node: MarkupNode): string {
  if (typeof node === 'string') return escapeHtml(node);
  let attrs = '';
  for (const [name, value] of Object.entries(node.attrs)) {
    // Names are the code's own, never input; a bad one is a bug, not something to escape.
    if (!attributeName.test(name)) throw new Error(`not an attribute name: ${name}`);
    attrs += value === true ? ` ${name}` : ` ${name}="${escapeHtml(value)}"`;
  }
  return `<${node.tag}${attrs}>${node.children.map(markupToHtml).join('')}</${node.tag}>`;
}
