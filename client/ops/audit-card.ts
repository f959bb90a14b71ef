import type { OpsResponse } from '../../protocol/ops-api.ts';
import type { OpsClient } from '../../protocol/ops-client.ts';
import { act, type Card, statusOf } from './card.ts';
import { h, relative, required } from './dom.ts';
import { asRecord, listFrom } from './json-fields.ts';

/** One entry, as the ops API's schema describes it (protocol/ops-schemas.ts). */
type AuditEntry = OpsResponse<'GET /audit'>['entries'][number];

/** The audit trail (#audit-card): newest first, filtered by actor, action and result, paged back. */
export function createAuditCard(api: OpsClient): Card {
  const auditCard = required<HTMLElement>('#audit-card');
  const auditStatus = statusOf(auditCard);
  const auditForm = required<HTMLFormElement>('#audit-form');
  const auditRows = required<HTMLElement>('#audit-rows');
  const auditOlder = required<HTMLButtonElement>('#audit-older');
  let auditNext: number | undefined;

  function auditQuery(before?: number): string {
    const form = new FormData(auditForm);
    const query = new URLSearchParams({ limit: '25' });
    for (const name of ['actor', 'action', 'result']) {
      const value = String(form.get(name) ?? '').trim();
      if (value) query.set(name, value);
    }
    if (before !== undefined) query.set('before', String(before));
    return query.toString();
  }

  function auditRow(entry: AuditEntry): HTMLElement {
    const params = entry.params === undefined ? '' : JSON.stringify(entry.params);
    const action = h('td', {}, h('code', { text: entry.action }));
    if (params)
      action.append(
        h('span', { class: 'audit-params', text: params.length > 160 ? `${params.slice(0, 160)}…` : params, attrs: { title: params } }),
      );
    return h(
      'tr',
      { attrs: { 'data-audit-id': String(entry.id), 'data-result': entry.result } },
      h('td', {}, relative(entry.at)),
      h('td', {}, h('strong', { text: entry.actor }), entry.role ? h('span', { class: 'muted', text: ` ${entry.role}` }) : ''),
      action,
      h('td', { text: entry.target ?? '—', attrs: entry.target ? {} : { 'data-empty': '' } }),
      h(
        'td',
        {},
        h('span', {
          class: `badge badge--${entry.result === 'ok' ? 'on' : 'off'} result--${entry.result}`,
          text: entry.status ? `${entry.result} ${entry.status}` : entry.result,
        }),
      ),
      h('td', { class: 'audit-from', text: entry.ip ?? '—', attrs: entry.userAgent ? { title: entry.userAgent } : {} }),
    );
  }

  /** The newest page, or (`older`) the next page down; the newest page is redrawn on refresh. */
  async function loadAudit(older = false): Promise<void> {
    const body = asRecord(await api.get<unknown>(`/audit?${auditQuery(older ? auditNext : undefined)}`));
    const entries = listFrom(body, 'entries') as AuditEntry[];
    auditNext = typeof body.next === 'number' ? body.next : undefined;
    const rows = entries.map(auditRow);
    if (older) auditRows.append(...rows);
    else
      auditRows.replaceChildren(
        ...(rows.length > 0 ? rows : [h('tr', {}, h('td', { class: 'muted', text: 'No entries.', attrs: { colspan: '6' } }))]),
      );
    auditOlder.hidden = auditNext === undefined;
  }

  async function refreshAudit(): Promise<void> {
    // Paging back stays put: only the first page follows new entries by itself.
    if (auditRows.querySelectorAll('tr').length > 25) return;
    try {
      await loadAudit();
      auditStatus.clearError();
    } catch (error) {
      auditStatus.error(error);
    }
  }

  auditForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void act(auditStatus, required<HTMLButtonElement>('button[type="submit"]', auditForm), 'Loading…', async () => {
      await loadAudit();
      return '';
    });
  });
  required<HTMLButtonElement>('#audit-refresh').addEventListener('click', (event) => {
    void act(auditStatus, event.currentTarget as HTMLButtonElement, 'Refreshing…', async () => {
      await loadAudit();
      return 'Up to date.';
    });
  });
  auditOlder.addEventListener('click', () => {
    void act(auditStatus, auditOlder, 'Loading older entries…', async () => {
      await loadAudit(true);
      return '';
    });
  });

  return { status: auditStatus, refresh: refreshAudit };
}
