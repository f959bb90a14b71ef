import type { OpsClient } from '../../protocol/ops-client.ts';
import { type Card, statusOf } from './card.ts';
import { type Sample, timeChart } from './charts.ts';
import { required } from './dom.ts';
import { asRecord, num } from './json-fields.ts';

/**
 * The window the chart shows: the last three minutes. Samples come from this page's own polls
 * (the server keeps no presence history), so a console opened a minute ago draws a minute.
 */
const WINDOW_MS = 3 * 60_000;
const CHART_HEIGHT = 180;

/** Live presence (#presence-card): active sessions and sockets now, and over the last minutes. */
export function createPresenceCard(api: OpsClient): Card {
  const card = required<HTMLElement>('#presence-card');
  const status = statusOf(card);
  const chart = required<HTMLElement>('#presence-chart');
  const history = { sessions: [] as Sample[], sockets: [] as Sample[] };

  function push(list: Sample[], sample: Sample): void {
    list.push(sample);
    while (list.length > 0 && list[0]!.at < sample.at - WINDOW_MS) list.shift();
  }

  let drawnWidth = 0;
  function draw(): void {
    const to = Date.now();
    drawnWidth = chart.clientWidth;
    chart.replaceChildren(
      timeChart(
        [
          { label: 'active visitors', samples: history.sessions, tone: 'tone-sessions' },
          { label: 'open sockets', samples: history.sockets, tone: 'tone-sockets' },
        ],
        { from: to - WINDOW_MS, to, width: chart.clientWidth || 320, height: CHART_HEIGHT, title: 'Presence over the last 3 minutes' },
      ),
    );
  }

  // Drawn at its shown size: a wider or narrower card redraws.
  new ResizeObserver(() => {
    if (chart.clientWidth !== drawnWidth && history.sessions.length > 0) draw();
  }).observe(chart);

  async function refresh(): Promise<void> {
    try {
      const presence = asRecord(await api.get<unknown>('/presence'));
      const active = num(presence.activeSessions);
      const sockets = num(presence.sockets);
      required<HTMLElement>('[data-presence="activeSessions"]', card).textContent = active.toLocaleString();
      required<HTMLElement>('[data-presence="sockets"]', card).textContent = sockets.toLocaleString();
      const at = Date.now();
      push(history.sessions, { at, value: active });
      push(history.sockets, { at, value: sockets });
      draw();
      card.classList.remove('is-stale');
      status.clearError();
    } catch (error) {
      card.classList.add('is-stale');
      status.error(error);
    }
  }

  return { status, refresh };
}
