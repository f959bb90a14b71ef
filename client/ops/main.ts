/// <reference types="vite/client" />
/**
 * The ops console (/ops): live presence, session stats, flashes, promotions with their
 * results, job schedules, maintenance and the audit trail, all through /ops/api.
 *
 * The operator signs in with a token once (POST /ops/api/session); from then on the browser
 * holds an ops session cookie (HttpOnly, SameSite=Strict) and the token is kept nowhere. The
 * same session opens Agendash. A 401 (idle timeout, sign-out elsewhere, revoked operator)
 * brings the sign-in back.
 */
import './ops.css';
import { safeHref } from '../visitor/banner-logic.ts';
import { createOpsClient, OpsApiError } from '../../protocol/ops-client.ts';
import { barChart, sparkline } from './charts.ts';

const PRESENCE_EVERY_MS = 2000;
const SESSIONS_EVERY_MS = 10_000;
const SLOW_EVERY_MS = 15_000;
/** Presence samples kept for the sparkline: three minutes at one every 2 s. */
const HISTORY = 90;

// ---------------------------------------------------------------------------------------------
// DOM helpers

function required<T extends Element>(selector: string, root: ParentNode = document): T {
  const found = root.querySelector<T>(selector);
  if (!found) throw new Error(`ops console: the page has no ${selector}; is the server's console page current?`);
  return found;
}

interface Props {
  class?: string;
  text?: string;
  attrs?: Record<string, string>;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function describe(error: unknown): string {
  if (error instanceof OpsApiError) return error.status === 0 ? error.message : `${error.message} (${error.code})`;
  console.error(error);
  return 'Something went wrong in the console; see the browser console.';
}

interface Status {
  pending(text: string): void;
  ok(text: string): void;
  error(error: unknown): void;
  clear(): void;
  /** Clears an error a later success has made stale; leaves other messages. */
  clearError(): void;
}

const allStatuses: Status[] = [];

function statusOf(card: HTMLElement): Status {
  const line = required<HTMLElement>('[data-status]', card);
  const set = (state: string, text: string) => {
    line.dataset.state = state;
    line.textContent = text;
  };
  const status: Status = {
    pending: (text) => set('pending', text),
    ok: (text) => set('ok', text),
    error: (error) => set('error', describe(error)),
    clear: () => set('', ''),
    clearError: () => {
      if (line.dataset.state === 'error') set('', '');
    },
  };
  allStatuses.push(status);
  return status;
}

/** Runs one operator action: button disabled meanwhile, outcome in the card's status line. */
async function act(status: Status, button: HTMLButtonElement | undefined, pending: string, run: () => Promise<string>) {
  if (button) button.disabled = true;
  status.pending(pending);
  try {
    status.ok(await run());
  } catch (error) {
    status.error(error);
  } finally {
    if (button) button.disabled = false;
  }
}

function relative(iso: unknown): HTMLElement {
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

const percent = (part: number, whole: number) => (whole > 0 ? `${Math.round((part / whole) * 100)}%` : '–');

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

/** A list from `[...]` or `{ <name>: [...] }`: the list endpoints' shape is the server's choice. */
function listFrom(body: unknown, name: string): unknown[] {
  if (Array.isArray(body)) return body;
  const inner = asRecord(body)[name];
  return Array.isArray(inner) ? inner : [];
}

const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : Number(value) || 0);
const str = (value: unknown) => (typeof value === 'string' ? value : undefined);

// ---------------------------------------------------------------------------------------------
// Polling

interface Poller {
  start(): void;
  stop(): void;
  now(): Promise<void>;
}

/** Runs `work` every `every` ms while started, never two at once. */
function poller(work: () => Promise<void>, every: number): Poller {
  let timer: ReturnType<typeof setInterval> | undefined;
  let running: Promise<void> | undefined;
  const now = () => {
    running ??= work().finally(() => {
      running = undefined;
    });
    return running;
  };
  return {
    start() {
      if (timer !== undefined) return;
      void now();
      timer = setInterval(() => void now(), every);
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
    now,
  };
}

// ---------------------------------------------------------------------------------------------
// Token and sign-in

const alertBox = required<HTMLElement>('#ops-alert');
const tokenForm = required<HTMLFormElement>('#token-form');
const tokenInput = required<HTMLInputElement>('input[name="token"]', tokenForm);
const signOutButton = required<HTMLButtonElement>('#sign-out');
const whoBox = required<HTMLElement>('#ops-who');
const main = required<HTMLElement>('#ops-main');

/** Who is signed in; undefined while the sign-in form shows. */
let signedIn: { actor: string; role: string } | undefined;

function showAlert(text: string | undefined): void {
  alertBox.textContent = text ?? '';
  alertBox.hidden = !text;
}

const api = createOpsClient({
  baseUrl: '',
  onUnauthorized: () => {
    if (signedIn) signIn('Your ops session has ended (30 minutes without use, signed out, or the token was revoked). Sign in again.');
  },
});

// ---------------------------------------------------------------------------------------------
// Presence and maintenance (every 2 s)

const presenceCard = required<HTMLElement>('#presence-card');
const presenceStatus = statusOf(presenceCard);
const presenceChart = required<HTMLElement>('#presence-chart');
const history = { sessions: [] as number[], sockets: [] as number[] };

function push(list: number[], value: number): void {
  list.push(value);
  if (list.length > HISTORY) list.shift();
}

async function loadPresence(): Promise<void> {
  try {
    const presence = asRecord(await api.get<unknown>('/presence'));
    const active = num(presence.activeSessions);
    const sockets = num(presence.sockets);
    required<HTMLElement>('[data-presence="activeSessions"]', presenceCard).textContent = active.toLocaleString();
    required<HTMLElement>('[data-presence="sockets"]', presenceCard).textContent = sockets.toLocaleString();
    push(history.sessions, active);
    push(history.sockets, sockets);
    presenceChart.replaceChildren(
      sparkline(
        [
          { values: history.sockets, tone: 'tone-sockets' },
          { values: history.sessions, tone: 'tone-sessions' },
        ],
        HISTORY,
      ),
    );
    presenceCard.classList.remove('is-stale');
    presenceStatus.clearError();
  } catch (error) {
    presenceCard.classList.add('is-stale');
    presenceStatus.error(error);
  }
}

const maintenanceCard = required<HTMLElement>('#maintenance-card');
const maintenanceStatus = statusOf(maintenanceCard);
const maintenanceForm = required<HTMLFormElement>('#maintenance-form');
const maintenanceStart = required<HTMLButtonElement>('button[type="submit"]', maintenanceForm);
const maintenanceStop = required<HTMLButtonElement>('#maintenance-stop');
const maintenanceState = required<HTMLElement>('[data-maintenance-state]', maintenanceCard);
const maintenanceLeft = required<HTMLElement>('[data-maintenance-left]', maintenanceCard);

let maintenance: { state: string; deadline?: number } = { state: 'unknown' };
let maintenanceTicker: ReturnType<typeof setInterval> | undefined;

function renderMaintenanceLeft(): void {
  const { state, deadline } = maintenance;
  maintenanceLeft.textContent =
    state === 'countdown' && deadline !== undefined ? `${Math.max(0, Math.ceil((deadline - Date.now()) / 1000))} s left` : '';
}

function renderMaintenance(): void {
  const { state } = maintenance;
  maintenanceState.textContent = state;
  maintenanceState.dataset.state = state;
  maintenanceCard.dataset.state = state;
  maintenanceStart.disabled = state === 'countdown' || state === 'active';
  maintenanceStop.hidden = state !== 'countdown' && state !== 'active';
  maintenanceStop.textContent = state === 'countdown' ? 'Cancel countdown' : 'End maintenance';
  renderMaintenanceLeft();
  if (state === 'countdown') maintenanceTicker ??= setInterval(renderMaintenanceLeft, 250);
  else if (maintenanceTicker !== undefined) {
    clearInterval(maintenanceTicker);
    maintenanceTicker = undefined;
  }
}

async function loadMaintenance(): Promise<void> {
  try {
    const body = asRecord(await api.get<unknown>('/maintenance'));
    const deadline = str(body.deadline) ? Date.parse(String(body.deadline)) : Number.NaN;
    maintenance = { state: str(body.state) ?? 'unknown' };
    if (Number.isFinite(deadline)) maintenance.deadline = deadline;
    renderMaintenance();
    maintenanceStatus.clearError();
  } catch (error) {
    maintenanceStatus.error(error);
  }
}

maintenanceForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(maintenanceForm);
  const seconds = Math.trunc(Number(form.get('seconds')));
  const message = String(form.get('message') ?? '').trim();
  void act(maintenanceStatus, maintenanceStart, 'Starting the countdown…', async () => {
    await api.send('POST', '/maintenance', message ? { seconds, message } : { seconds });
    await loadMaintenance();
    return `Countdown of ${seconds} s started.`;
  });
});

maintenanceStop.addEventListener('click', () => {
  const ending = maintenance.state === 'active';
  void act(maintenanceStatus, maintenanceStop, ending ? 'Ending maintenance…' : 'Cancelling…', async () => {
    await api.send('DELETE', '/maintenance');
    await loadMaintenance();
    return ending ? 'Maintenance ended: the site is open.' : 'Countdown cancelled.';
  });
});

// ---------------------------------------------------------------------------------------------
// Session stats

const sessionsCard = required<HTMLElement>('#sessions-card');
const sessionsStatus = statusOf(sessionsCard);

async function loadSessionStats(): Promise<void> {
  try {
    const stats = asRecord(await api.get<unknown>('/sessions/stats'));
    for (const name of ['total', 'active', 'expired', 'carts']) {
      required<HTMLElement>(`[data-session-stat="${name}"]`, sessionsCard).textContent = num(stats[name]).toLocaleString();
    }
    sessionsStatus.clearError();
  } catch (error) {
    sessionsStatus.error(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Send a flash

const flashCard = required<HTMLElement>('#flash-card');
const flashStatus = statusOf(flashCard);
const flashForm = required<HTMLFormElement>('#flash-form');

flashForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(flashForm);
  const to = form.get('to') === 'all' ? 'all' : 'active';
  const key = String(form.get('key') ?? '').trim();
  const message = String(form.get('message') ?? '').trim();
  const button = required<HTMLButtonElement>('button[type="submit"]', flashForm);
  void act(flashStatus, button, 'Sending…', async () => {
    const result = asRecord(await api.send<unknown>('POST', '/flashes', { to, key, message }));
    const reached = num(result.sessions);
    required<HTMLTextAreaElement>('textarea[name="message"]', flashForm).value = '';
    return `Sent "${key}" to ${reached.toLocaleString()} session${reached === 1 ? '' : 's'}.`;
  });
});

// ---------------------------------------------------------------------------------------------
// Promotions

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

const promotionsCard = required<HTMLElement>('#promotions-card');
const promotionsStatus = statusOf(promotionsCard);
const promotionsList = required<HTMLElement>('#promotions-list');
const promotionForm = required<HTMLFormElement>('#promotion-form');

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

function isoFromLocal(value: FormDataEntryValue | null): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
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

// ---------------------------------------------------------------------------------------------
// Jobs

interface Job {
  name: string;
  schedule?: string;
  nextRunAt?: string;
  lastRunAt?: string;
  lastFinishedAt?: string;
  failReason?: string;
  running: boolean;
  /** False for jobs ops drive through their own endpoint (the maintenance countdown). */
  operable: boolean;
}

function parseJob(raw: unknown): Job | undefined {
  const record = asRecord(raw);
  const name = str(record.name);
  if (!name) return undefined;
  const job: Job = {
    name,
    running: record.running === true || record.isRunning === true,
    operable: record.operable !== false,
  };
  const schedule = str(record.every) ?? str(record.repeatInterval) ?? str(record.schedule) ?? str(record.interval);
  if (schedule) job.schedule = schedule;
  const fields = ['nextRunAt', 'lastRunAt', 'lastFinishedAt', 'failReason'] as const;
  for (const field of fields) {
    const value = str(record[field]) ?? str(record[field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]);
    if (value) job[field] = value;
  }
  return job;
}

const jobsCard = required<HTMLElement>('#jobs-card');
const jobsStatus = statusOf(jobsCard);
const jobsList = required<HTMLElement>('#jobs-list');

function jobRow(job: Job): HTMLElement {
  const result = h('pre', { class: 'job__result', attrs: { hidden: '' } });
  const actions = h('div', { class: 'job__actions' });

  if (job.operable) {
    const run = h('button', { class: 'ops-button ops-button--small', text: 'Run now', attrs: { type: 'button' } });
    run.addEventListener('click', () => {
      void act(jobsStatus, run, `Running ${job.name}…`, async () => {
        const outcome = await api.send<unknown>('POST', `/jobs/${encodeURIComponent(job.name)}/run`);
        result.textContent = JSON.stringify(outcome ?? null, null, 1).slice(0, 2000);
        result.hidden = false;
        await loadJobs(true);
        return `${job.name} finished.`;
      });
    });
    actions.append(run);
  }

  const every = h('input', {
    attrs: { type: 'text', name: 'every', placeholder: '1 minute', 'aria-label': `Schedule of ${job.name}`, required: '' },
  });
  every.value = job.schedule ?? '';
  const set = h('button', { class: 'ops-button ops-button--small', text: 'Set schedule', attrs: { type: 'submit' } });
  const scheduleForm = h('form', { class: 'job__schedule' }, every, set);
  scheduleForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = every.value.trim();
    void act(jobsStatus, set, 'Saving the schedule…', async () => {
      await api.send('PUT', `/jobs/${encodeURIComponent(job.name)}/schedule`, { every: value });
      await loadJobs(true);
      return `${job.name} now runs every ${value}.`;
    });
  });
  if (job.operable) actions.append(scheduleForm);

  if (job.operable && job.schedule) {
    const unschedule = h('button', {
      class: 'ops-button ops-button--small ops-button--ghost',
      text: 'Remove schedule',
      attrs: { type: 'button' },
    });
    unschedule.addEventListener('click', () => {
      void act(jobsStatus, unschedule, 'Removing the schedule…', async () => {
        await api.send('DELETE', `/jobs/${encodeURIComponent(job.name)}/schedule`);
        await loadJobs(true);
        return `${job.name} no longer repeats.`;
      });
    });
    actions.append(unschedule);
  }

  const times = h(
    'dl',
    { class: 'job__times' },
    h('div', {}, h('dt', { text: 'next run' }), h('dd', {}, relative(job.nextRunAt))),
    h('div', {}, h('dt', { text: 'last run' }), h('dd', {}, relative(job.lastRunAt))),
    h('div', {}, h('dt', { text: 'last finished' }), h('dd', {}, relative(job.lastFinishedAt))),
  );
  const row = h(
    'article',
    { class: 'job', attrs: { 'data-job': job.name } },
    h(
      'div',
      { class: 'job__head' },
      h('h3', { class: 'job__name', text: job.name }),
      h('span', {
        class: `badge ${job.schedule ? 'badge--on' : 'badge--off'}`,
        text: job.running ? 'running' : job.schedule ? `every ${job.schedule}` : 'not scheduled',
      }),
    ),
    times,
  );
  if (job.failReason) row.append(h('p', { class: 'job__failure', text: `Last failure: ${job.failReason}` }));
  row.append(actions, result);
  return row;
}

async function loadJobs(force = false): Promise<void> {
  const jobs = listFrom(await api.get<unknown>('/jobs'), 'jobs')
    .map(parseJob)
    .filter((job): job is Job => job !== undefined);
  if (!force && (jobsList.contains(document.activeElement) || jobsList.querySelector('button:disabled'))) return;
  jobsList.replaceChildren(...jobs.map(jobRow));
}

async function refreshJobs(): Promise<void> {
  try {
    await loadJobs();
    jobsStatus.clearError();
  } catch (error) {
    jobsStatus.error(error);
  }
}

required<HTMLButtonElement>('#jobs-refresh').addEventListener('click', (event) => {
  void act(jobsStatus, event.currentTarget as HTMLButtonElement, 'Refreshing…', async () => {
    await loadJobs(true);
    return 'Up to date.';
  });
});

// ---------------------------------------------------------------------------------------------
// Audit trail

interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  role?: string;
  action: string;
  target?: string;
  params?: unknown;
  ip?: string;
  userAgent?: string;
  result: string;
  status?: number;
}

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

// ---------------------------------------------------------------------------------------------
// Start

const pollers = [
  poller(() => Promise.all([loadPresence(), loadMaintenance()]).then(() => undefined), PRESENCE_EVERY_MS),
  poller(loadSessionStats, SESSIONS_EVERY_MS),
  poller(refreshPromotions, SLOW_EVERY_MS),
  poller(refreshJobs, SLOW_EVERY_MS),
  poller(refreshAudit, SLOW_EVERY_MS),
];

function startPolling(): void {
  if (signedIn && !document.hidden) for (const p of pollers) p.start();
}

function stopPolling(): void {
  for (const p of pollers) p.stop();
}

function signIn(message?: string): void {
  signedIn = undefined;
  stopPolling();
  main.hidden = true;
  signOutButton.hidden = true;
  whoBox.hidden = true;
  tokenForm.hidden = false;
  showAlert(message);
  tokenInput.focus();
}

function openConsole(who: { actor: string; role: string }): void {
  signedIn = who;
  // Viewers read only: the write controls are hidden (ops.css); the server refuses them anyway.
  document.body.dataset.role = who.role;
  whoBox.textContent = `${who.actor} · ${who.role}`;
  whoBox.hidden = false;
  tokenForm.hidden = true;
  main.hidden = false;
  signOutButton.hidden = false;
  showAlert(undefined);
  for (const status of allStatuses) status.clear();
  startPolling();
}

function whoFrom(body: unknown): { actor: string; role: string } {
  const record = asRecord(body);
  return { actor: str(record.actor) ?? '?', role: str(record.role) ?? 'viewer' };
}

tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const value = tokenInput.value.trim();
  if (!value) return;
  const button = required<HTMLButtonElement>('[type="submit"]', tokenForm);
  button.disabled = true;
  void api
    .send<unknown>('POST', '/session', { token: value })
    .then(
      (body) => {
        tokenInput.value = '';
        openConsole(whoFrom(body));
      },
      (error: unknown) => {
        if (error instanceof OpsApiError && error.status === 401) showAlert('That token was refused. Check it and try again.');
        else if (error instanceof OpsApiError && error.status === 429) {
          showAlert(`Too many refused tokens from this address; try again in ${error.retryAfterSeconds ?? 60} s.`);
        } else showAlert(describe(error));
        tokenInput.select();
      },
    )
    .finally(() => {
      button.disabled = false;
    });
});

signOutButton.addEventListener('click', () => {
  signOutButton.disabled = true;
  void api
    .send('DELETE', '/session')
    .then(
      () => signIn('Signed out.'),
      (error: unknown) => showAlert(describe(error)),
    )
    .finally(() => {
      signOutButton.disabled = false;
    });
});

// A hidden tab stops polling; coming back refreshes at once.
document.addEventListener('visibilitychange', () => {
  if (document.hidden) stopPolling();
  else startPolling();
});

// Already signed in (the ops session cookie of an earlier visit)?
api.get<unknown>('/session').then(
  (body) => openConsole(whoFrom(body)),
  () => signIn(),
);
