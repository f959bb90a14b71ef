import type { OpsClient } from '../../protocol/ops-client.ts';
import { type Card, statusOf } from './card.ts';
import { sparkline } from './charts.ts';
import { required } from './dom.ts';
import { asRecord, num } from './json-fields.ts';

/** Presence samples kept for the sparkline: three minutes at one every 2 s. */
const HISTORY = 90;

/** Live presence (#presence-card): active sessions and sockets now, and their recent history. */
export function createPresenceCard(api: OpsClient): Card {
  const card = required<HTMLElement>('#presence-card');
  const status = statusOf(card);
  const chart = required<HTMLElement>('#presence-chart');
  const history = { sessions: [] as number[], sockets: [] as number[] };

  function push(list: number[], value: number): void {
    list.push(value);
    if (list.length > HISTORY) list.shift();
  }

  async function refresh(): Promise<void> {
    try {
      const presence = asRecord(await api.get<unknown>('/presence'));
      const active = num(presence.activeSessions);
      const sockets = num(presence.sockets);
      required<HTMLElement>('[data-presence="activeSessions"]', card).textContent = active.toLocaleString();
      required<HTMLElement>('[data-presence="sockets"]', card).textContent = sockets.toLocaleString();
      push(history.sessions, active);
      push(history.sockets, sockets);
      chart.replaceChildren(
        sparkline(
          [
            { values: history.sockets, tone: 'tone-sockets' },
            { values: history.sessions, tone: 'tone-sessions' },
          ],
          HISTORY,
        ),
      );
      card.classList.remove('is-stale');
      status.clearError();
    } catch (error) {
      card.classList.add('is-stale');
      status.error(error);
    }
  }

  return { status, refresh };
}
