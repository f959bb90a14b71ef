import type { OpsClient } from '../../protocol/ops-client.ts';
import { safeHref } from '../../common/flash-banner.ts';
import { act, type Card, statusOf } from './card.ts';
import { barChart } from './charts.ts';
import { h, percent, required } from './dom.ts';
import { asRecord, listFrom, num, str } from './json-fields.ts';

interface Promotion {
  id: number;
  name: string;
  callToAction: string;
  active: boolean;
  url?: string;
  weight?: number;
  startsAt?: string;
  endsAt?: string;
}

interface PromotionStats {
  delivered: number;
  displayed: number;
  clicked: number;
  dismissed: number;
}

function parsePromotion(raw: unknown): Promotion | undefined {
  const record = asRecord(raw);
  const id = Number(record.id);
  if (!Number.isSafeInteger(id)) return undefined;
  const promotion: Promotion = {
    id,
    name: str(record.name) ?? `#${id}`,
    callToAction: str(record.callToAction) ?? str(record.call_to_action) ?? '',
    active: record.active === true,
  };
  const url = safeHref(record.url);
  if (url) promotion.url = url;
  if (record.weight !== undefined && record.weight !== null) promotion.weight = num(record.weight);
  const startsAt = str(record.startsAt) ?? str(record.starts_at);
  const endsAt = str(record.endsAt) ?? str(record.ends_at);
  if (startsAt) promotion.startsAt = startsAt;
  if (endsAt) promotion.endsAt = endsAt;
  return promotion;
}

function parseStats(raw: unknown): PromotionStats {
  const record = asRecord(raw);
  return {
    delivered: num(record.delivered),
    displayed: num(record.displayed),
    clicked: num(record.clicked),
    dismissed: num(record.dismissed),
  };
}

function windowText(promotion: Promotion): string {
  const format = (iso: string) => {
    const ms = Date.parse(iso);
    return Number.isFinite(ms) ? new Date(ms).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) : iso;
  };
  if (promotion.startsAt && promotion.endsAt) return `${format(promotion.startsAt)} → ${format(promotion.endsAt)}`;
  if (promotion.startsAt) return `from ${format(promotion.startsAt)}`;
  if (promotion.endsAt) return `until ${format(promotion.endsAt)}`;
  return 'always';
}

/** An ISO time as a datetime-local input's value (the browser's time zone, to the minute). */
function localFromIso(iso: string | undefined): string {
  const ms = iso ? Date.parse(iso) : Number.NaN;
  if (!Number.isFinite(ms)) return '';
  return new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function isoFromLocal(value: FormDataEntryValue | null): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

function field(label: string, input: HTMLInputElement, wide = false): HTMLLabelElement {
  return h('label', { class: `field${wide ? ' field--wide' : ''}` }, h('span', { text: label }), input);
}

function input(name: string, value: string, attrs: Record<string, string> = {}): HTMLInputElement {
  const node = h('input', { attrs: { name, type: 'text', ...attrs } });
  node.value = value;
  return node;
}

/**
 * The edit form of one promotion, filled with what it has now. `changes` reads back only the
 * fields the operator changed (a cleared url or window as null), so the PATCH and its audit
 * entry name what changed and nothing else.
 */
function editForm(promotion: Promotion): { form: HTMLFormElement; changes(): Record<string, unknown> } {
  const startsAt = localFromIso(promotion.startsAt);
  const endsAt = localFromIso(promotion.endsAt);
  const active = input('active', '', { type: 'checkbox' });
  active.checked = promotion.active;
  const form = h(
    'form',
    { class: 'form-grid promo__edit', attrs: { 'data-promotion-edit': String(promotion.id) } },
    field('Name', input('name', promotion.name, { maxlength: '200', required: '' })),
    field('Call to action', input('callToAction', promotion.callToAction, { maxlength: '1000', required: '' }), true),
    field('Link (optional)', input('url', promotion.url ?? '', { inputmode: 'url', pattern: '(https?://|/).*' }), true),
    field('Weight', input('weight', String(promotion.weight ?? 1), { type: 'number', min: '0', step: 'any', required: '' })),
    field('Starts', input('startsAt', startsAt, { type: 'datetime-local' })),
    field('Ends', input('endsAt', endsAt, { type: 'datetime-local' })),
    h('label', { class: 'checkbox' }, active, ' active'),
  );
  const changes = (): Record<string, unknown> => {
    const data = new FormData(form);
    const text = (name: string) => String(data.get(name) ?? '').trim();
    const changed: Record<string, unknown> = {};
    if (text('name') !== promotion.name) changed.name = text('name');
    if (text('callToAction') !== promotion.callToAction) changed.callToAction = text('callToAction');
    if (text('url') !== (promotion.url ?? '')) changed.url = text('url') || null;
    if (Number(text('weight')) !== (promotion.weight ?? 1)) changed.weight = Number(text('weight'));
    if (text('startsAt') !== startsAt) changed.startsAt = isoFromLocal(text('startsAt')) ?? null;
    if (text('endsAt') !== endsAt) changed.endsAt = isoFromLocal(text('endsAt')) ?? null;
    if (active.checked !== promotion.active) changed.active = active.checked;
    return changed;
  };
  return { form, changes };
}

/**
 * Promotions (#promotions-card): each with its window, weight and results as a chart; create,
 * edit, pause, activate and delete them.
 */
export function createPromotionsCard(api: OpsClient): Card {
  const promotionsCard = required<HTMLElement>('#promotions-card');
  const promotionsStatus = statusOf(promotionsCard);
  const promotionsList = required<HTMLElement>('#promotions-list');
  const promotionForm = required<HTMLFormElement>('#promotion-form');
  /** The promotion whose edit form is open: the periodic reload leaves the list alone meanwhile. */
  let editing: number | undefined;

  function promotionCard(promotion: Promotion, stats: PromotionStats | undefined): HTMLElement {
    if (editing === promotion.id) return editingCard(promotion);
    const edit = h('button', { class: 'ops-button ops-button--small', text: 'Edit', attrs: { type: 'button' } });
    edit.addEventListener('click', () => {
      editing = promotion.id;
      promotionsStatus.clear();
      const card = editingCard(promotion);
      promotionsList.querySelector(`[data-promotion-id="${promotion.id}"]`)?.replaceWith(card);
      card.querySelector<HTMLInputElement>('input[name="name"]')?.focus();
    });
    const toggle = h('button', {
      class: 'ops-button ops-button--small',
      text: promotion.active ? 'Pause' : 'Activate',
      attrs: { type: 'button' },
    });
    toggle.addEventListener('click', () => {
      void act(promotionsStatus, toggle, 'Saving…', async () => {
        await api.send('PATCH', `/promotions/${promotion.id}`, { active: !promotion.active });
        await loadPromotions(true);
        return `"${promotion.name}" ${promotion.active ? 'paused' : 'activated'}.`;
      });
    });
    const remove = h('button', {
      class: 'ops-button ops-button--small ops-button--danger',
      text: 'Delete',
      attrs: { type: 'button' },
    });
    remove.addEventListener('click', () => {
      if (!confirm(`Delete the promotion "${promotion.name}"?`)) return;
      void act(promotionsStatus, remove, 'Deleting…', async () => {
        await api.send('DELETE', `/promotions/${promotion.id}`);
        await loadPromotions(true);
        return `"${promotion.name}" deleted.`;
      });
    });

    const cta = h('p', { class: 'promo__cta' }, h('span', { text: promotion.callToAction || '(no call to action)' }));
    if (promotion.url) {
      cta.append(' ', h('a', { text: promotion.url, attrs: { href: promotion.url, target: '_blank', rel: 'noopener' } }));
    }

    const body: (Node | string)[] = [
      h(
        'div',
        { class: 'promo__head' },
        h('h3', { class: 'promo__name', text: promotion.name }),
        h('span', { class: `badge ${promotion.active ? 'badge--on' : 'badge--off'}`, text: promotion.active ? 'active' : 'paused' }),
      ),
      h('p', {
        class: 'promo__meta',
        text: `#${promotion.id} · weight ${promotion.weight ?? 1} · ${windowText(promotion)}`,
      }),
      cta,
    ];
    if (stats) {
      body.push(
        barChart(
          [
            { label: 'delivered', value: stats.delivered, tone: 'tone-delivered' },
            { label: 'displayed', value: stats.displayed, tone: 'tone-displayed' },
            { label: 'clicked', value: stats.clicked, tone: 'tone-clicked' },
            { label: 'dismissed', value: stats.dismissed, tone: 'tone-dismissed' },
          ],
          `Results of ${promotion.name}`,
        ),
        h('p', {
          class: 'promo__rates',
          text: `shown ${percent(stats.displayed, stats.delivered)} of delivered · click-through ${percent(stats.clicked, stats.displayed)} · dismissed ${percent(stats.dismissed, stats.displayed)}`,
        }),
      );
    } else {
      body.push(h('p', { class: 'muted', text: 'No statistics yet.' }));
    }
    body.push(h('div', { class: 'promo__actions' }, edit, toggle, remove));
    return h(
      'article',
      { class: `promo${promotion.active ? '' : ' promo--off'}`, attrs: { 'data-promotion-id': String(promotion.id) } },
      ...body,
    );
  }

  function editingCard(promotion: Promotion): HTMLElement {
    const { form, changes } = editForm(promotion);
    const save = h('button', { class: 'ops-button ops-button--small', text: 'Save', attrs: { type: 'submit' } });
    const cancel = h('button', { class: 'ops-button ops-button--small ops-button--ghost', text: 'Cancel', attrs: { type: 'button' } });
    form.append(h('div', { class: 'promo__actions' }, save, cancel));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const changed = changes();
      if (Object.keys(changed).length === 0) {
        promotionsStatus.ok('Nothing changed.');
        return;
      }
      void act(promotionsStatus, save, 'Saving…', async () => {
        await api.send('PATCH', `/promotions/${promotion.id}`, changed);
        editing = undefined;
        await loadPromotions(true);
        return `"${String(changed.name ?? promotion.name)}" saved.`;
      });
    });
    cancel.addEventListener('click', () => {
      editing = undefined;
      void loadPromotions(true).catch((error: unknown) => promotionsStatus.error(error));
    });
    return h(
      'article',
      { class: 'promo promo--editing', attrs: { 'data-promotion-id': String(promotion.id) } },
      h('div', { class: 'promo__head' }, h('h3', { class: 'promo__name', text: `Editing ${promotion.name}` })),
      form,
    );
  }

  /** Redraws unless the operator is in the middle of something there (`force` after an action). */
  async function loadPromotions(force = false): Promise<void> {
    const raw = listFrom(await api.get<unknown>('/promotions'), 'promotions');
    const promotions = raw.map(parsePromotion).filter((p): p is Promotion => p !== undefined);
    const stats = await Promise.all(
      promotions.map((promotion) => api.get<unknown>(`/promotions/${promotion.id}/stats`).then(parseStats, () => undefined)),
    );
    if (!force && (editing !== undefined || promotionsList.contains(document.activeElement))) return;
    if (editing !== undefined && !promotions.some((promotion) => promotion.id === editing)) editing = undefined;
    promotionsList.replaceChildren(
      ...(promotions.length === 0
        ? [h('p', { class: 'muted', text: 'No promotions yet. Create one below.' })]
        : promotions.map((promotion, index) => promotionCard(promotion, stats[index]))),
    );
  }

  async function refreshPromotions(): Promise<void> {
    try {
      await loadPromotions();
      promotionsStatus.clearError();
    } catch (error) {
      promotionsStatus.error(error);
    }
  }
  promotionForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = new FormData(promotionForm);
    const body: Record<string, unknown> = {
      name: String(form.get('name') ?? '').trim(),
      callToAction: String(form.get('callToAction') ?? '').trim(),
      active: form.get('active') === 'on',
    };
    const url = String(form.get('url') ?? '').trim();
    if (url) body.url = url;
    const weight = String(form.get('weight') ?? '').trim();
    if (weight) body.weight = Number(weight);
    const startsAt = isoFromLocal(form.get('startsAt'));
    const endsAt = isoFromLocal(form.get('endsAt'));
    if (startsAt) body.startsAt = startsAt;
    if (endsAt) body.endsAt = endsAt;
    const button = required<HTMLButtonElement>('button[type="submit"]', promotionForm);
    void act(promotionsStatus, button, 'Creating…', async () => {
      await api.send('POST', '/promotions', body);
      promotionForm.reset();
      await loadPromotions(true);
      return `Promotion "${String(body.name)}" created.`;
    });
  });

  required<HTMLButtonElement>('#promotions-refresh').addEventListener('click', (event) => {
    void act(promotionsStatus, event.currentTarget as HTMLButtonElement, 'Refreshing…', async () => {
      await loadPromotions(true);
      return 'Up to date.';
    });
  });

  return { status: promotionsStatus, refresh: refreshPromotions };
}
