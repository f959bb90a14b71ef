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

function isoFromLocal(value: FormDataEntryValue | null): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

/**
 * Promotions (#promotions-card): each with its window, weight and results as a chart; create,
 * pause, activate and delete them.
 */
export function createPromotionsCard(api: OpsClient): Card {
  const promotionsCard = required<HTMLElement>('#promotions-card');
  const promotionsStatus = statusOf(promotionsCard);
  const promotionsList = required<HTMLElement>('#promotions-list');
  const promotionForm = required<HTMLFormElement>('#promotion-form');
  function promotionCard(promotion: Promotion, stats: PromotionStats | undefined): HTMLElement {
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
    body.push(h('div', { class: 'promo__actions' }, toggle, remove));
    return h(
      'article',
      { class: `promo${promotion.active ? '' : ' promo--off'}`, attrs: { 'data-promotion-id': String(promotion.id) } },
      ...body,
    );
  }

  /** Redraws unless the operator is in the middle of something there (`force` after an action). */
  async function loadPromotions(force = false): Promise<void> {
    const raw = listFrom(await api.get<unknown>('/promotions'), 'promotions');
    const promotions = raw.map(parsePromotion).filter((p): p is Promotion => p !== undefined);
    const stats = await Promise.all(
      promotions.map((promotion) => api.get<unknown>(`/promotions/${promotion.id}/stats`).then(parseStats, () => undefined)),
    );
    if (!force && promotionsList.contains(document.activeElement)) return;
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
