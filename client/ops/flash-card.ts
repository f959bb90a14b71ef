import type { OpsClient } from '../../protocol/ops-client.ts';
import { act, type Status, statusOf } from './card.ts';
import { required } from './dom.ts';
import { asRecord, num } from './json-fields.ts';

/** Send a flash (#flash-card) to the active sessions or to all of them. Nothing to load. */
export function createFlashCard(api: OpsClient): { status: Status } {
  const card = required<HTMLElement>('#flash-card');
  const status = statusOf(card);
  const form = required<HTMLFormElement>('#flash-form');

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    const to = fields.get('to') === 'all' ? 'all' : 'active';
    const key = String(fields.get('key') ?? '').trim();
    const message = String(fields.get('message') ?? '').trim();
    const button = required<HTMLButtonElement>('button[type="submit"]', form);
    void act(status, button, 'Sending…', async () => {
      const result = asRecord(await api.send<unknown>('POST', '/flashes', { to, key, message }));
      const reached = num(result.sessions);
      required<HTMLTextAreaElement>('textarea[name="message"]', form).value = '';
      return `Sent "${key}" to ${reached.toLocaleString()} session${reached === 1 ? '' : 's'}.`;
    });
  });

  return { status };
}
