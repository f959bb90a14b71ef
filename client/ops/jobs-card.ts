import type { OpsClient } from '../../protocol/ops-client.ts';
import { act, type Card, statusOf } from './card.ts';
import { h, relative, required } from './dom.ts';
import { asRecord, listFrom, str } from './json-fields.ts';

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

/** Jobs (#jobs-card): their schedules and runs; run one now, set or remove its schedule. */
export function createJobsCard(api: OpsClient): Card {
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

  return { status: jobsStatus, refresh: refreshJobs };
}
