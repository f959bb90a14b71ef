import type { OpsClient } from '../../protocol/ops-client.ts';
import { type Card, statusOf } from './card.ts';
import { required } from './dom.ts';
import { asRecord, num } from './json-fields.ts';

/** Session totals (#sessions-card): total, active, expired, and sessions with a cart. */
export function createSessionsCard(api: OpsClient): Card {
  const card = required<HTMLElement>('#sessions-card');
  const status = statusOf(card);

  async function refresh(): Promise<void> {
    try {
      const stats = asRecord(await api.get<unknown>('/sessions/stats'));
      for (const name of ['total', 'active', 'expired', 'carts']) {
        required<HTMLElement>(`[data-session-stat="${name}"]`, card).textContent = num(stats[name]).toLocaleString();
      }
      status.clearError();
    } catch (error) {
      status.error(error);
    }
  }

  return { status, refresh };
}
