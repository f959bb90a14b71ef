/** Building the console's elements: lookups that fail loudly, small element factories, times and rates. */

export function required<T extends Element>(selector: string, root: ParentNode = document): T {
  const found = root.querySelector<T>(selector);
  if (!found) throw new Error(`ops console: the page has no ${selector}; is the server's console page current?`);
  return found;
}

interface Props {
  class?: string;
  text?: string;
  attrs?: Record<string, string>;
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** "in 5 min", "2 h ago", with the exact time as its title; a dash when there is none. */
export function relative(iso: unknown): HTMLElement {
  if (typeof iso !== 'string' || iso === '') return h('span', { class: 'muted', text: '—' });
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return h('span', { text: iso });
  const diff = ms - Date.now();
  const s = Math.round(Math.abs(diff) / 1000);
  const amount =
    s < 60 ? `${s} s` : s < 3600 ? `${Math.round(s / 60)} min` : s < 86_400 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86_400)} d`;
  return h('time', {
    text: diff >= 0 ? `in ${amount}` : `${amount} ago`,
    attrs: { datetime: new Date(ms).toISOString(), title: new Date(ms).toLocaleString() },
  });
}

export const percent = (part: number, whole: number) => (whole > 0 ? `${Math.round((part / whole) * 100)}%` : '–');
