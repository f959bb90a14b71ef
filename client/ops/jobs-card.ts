import type { OpsClient } from '../../protocol/ops-client.ts';
import { act, type Card, statusOf } from './card.ts';
import { h, relative, required } from './dom.ts';
import { asRecord, listFrom, num, str } from './json-fields.ts';

interface Job {
  name: string;
  schedule?: string;
  nextRunAt?: string;
  lastRunAt?: string;
  lastFinishedAt?: string;
  failReason?: string;
  /** What the latest successful run returned (null: none yet), and when it finished. */
  lastResult: unknown;
  lastResultAt?: string;
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
    lastResult: record.lastResult ?? null,
    operable: record.operable !== false,
  };
  const schedule = str(record.every) ?? str(record.repeatInterval) ?? str(record.schedule) ?? str(record.interval);
  if (schedule) job.schedule = schedule;
  const fields = ['nextRunAt', 'lastRunAt', 'lastFinishedAt', 'failReason', 'lastResultAt'] as const;
  for (const field of fields) {
    const value = str(record[field]) ?? str(record[field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)]);
    if (value) job[field] = value;
  }
  return job;
}

/** "120 ms", "1.4 s", "2 min 5 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** How long the latest run took: only when it has finished since it started. */
function lastDuration(job: Job): number | undefined {
  const started = job.lastRunAt ? Date.parse(job.lastRunAt) : Number.NaN;
  const finished = job.lastFinishedAt ? Date.parse(job.lastFinishedAt) : Number.NaN;
  return Number.isFinite(started) && Number.isFinite(finished) && finished >= started ? finished - started : undefined;
}

const plural = (n: number, one: string, many: string) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** A run's result as a sentence: the two jobs ops run by name in words, any other as its fields. */
export function describeResult(name: string, raw: unknown): string {
  if (raw === null || raw === undefined) return 'no result recorded';
  const result = asRecord(raw);
  if (name === 'promotion-round') {
    if (str(result.skipped)) return `skipped: ${str(result.skipped)}`;
    const reached = plural(num(result.sessions), 'session', 'sessions');
    const each = Object.entries(asRecord(result.promotions)).map(([id, count]) => `${num(count).toLocaleString()} × promotion #${id}`);
    return each.length > 0 ? `${reached} given a promotion (${each.join(', ')})` : `${reached} given a promotion`;
  }
  if (name === 'session-cleanup') {
    return `${plural(num(result.sessions), 'expired session', 'expired sessions')} and ${plural(num(result.carts), 'cart', 'carts')} removed`;
  }
  if (typeof raw !== 'object') return String(raw);
  const parts = Object.entries(result).map(([key, value]) =>
    typeof value === 'object' && value !== null ? `${key}: ${JSON.stringify(value)}` : `${key}: ${String(value)}`,
  );
  return parts.length > 0 ? parts.join(' · ') : 'nothing to report';
}

/** Jobs (#jobs-card): their schedules and runs; run one now, set or remove its schedule. */
export function createJobsCard(api: OpsClient): Card {
  const jobsCard = required<HTMLElement>('#jobs-card');
  const jobsStatus = statusOf(jobsCard);
  const jobsList = required<HTMLElement>('#jobs-list');

  function jobRow(job: Job): HTMLElement {
    const actions = h('div', { class: 'job__actions' });

    if (job.operable) {
      const run = h('button', { class: 'ops-button ops-button--small', text: 'Run now', attrs: { type: 'button' } });
      run.addEventListener('click', () => {
        void act(jobsStatus, run, `Running ${job.name}…`, async () => {
          const started = performance.now();
          const outcome = asRecord(await api.send<unknown>('POST', `/jobs/${encodeURIComponent(job.name)}/run`));
          const took = formatDuration(performance.now() - started);
          await loadJobs(true);
          return `${job.name} finished in ${took}: ${describeResult(job.name, outcome.result)}.`;
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

    const duration = lastDuration(job);
    const failed = job.failReason !== undefined;
    const outcome = job.running ? 'running' : !job.lastFinishedAt ? undefined : failed ? 'failed' : 'ok';
    const times = h(
      'dl',
      { class: 'job__times' },
      h('div', {}, h('dt', { text: 'next run' }), h('dd', {}, relative(job.nextRunAt))),
      h('div', {}, h('dt', { text: 'last run' }), h('dd', {}, relative(job.lastRunAt))),
      h(
        'div',
        {},
        h('dt', { text: 'took' }),
        h(
          'dd',
          { attrs: { 'data-job-duration': '' } },
          duration === undefined ? h('span', { class: 'muted', text: '—' }) : formatDuration(duration),
        ),
      ),
    );
    const head = h(
      'div',
      { class: 'job__head' },
      h('h3', { class: 'job__name', text: job.name }),
      h('span', {
        class: `badge ${job.schedule ? 'badge--on' : 'badge--off'}`,
        text: job.schedule ? `every ${job.schedule}` : 'not scheduled',
      }),
    );
    if (outcome)
      head.append(
        h('span', { class: `badge job__outcome job__outcome--${outcome}`, text: outcome, attrs: { 'data-job-outcome': outcome } }),
      );
    const row = h('article', { class: 'job', attrs: { 'data-job': job.name } }, head, times);
    if (failed)
      row.append(h('p', { class: 'job__failure', attrs: { 'data-job-failure': '' }, text: `Last run failed: ${job.failReason}` }));
    if (job.operable && (job.lastResult !== null || job.lastResultAt)) {
      const result = h(
        'p',
        { class: 'job__result' },
        h('span', { class: 'job__result-label', text: failed ? 'Last good result' : 'Result' }),
        h('span', { attrs: { 'data-job-result': '' }, text: describeResult(job.name, job.lastResult) }),
      );
      if (job.lastResultAt) result.append(' ', relative(job.lastResultAt));
      row.append(result);
    }
    row.append(actions);
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

  return { status: jobsStatus, refresh: refreshJobs };
}
