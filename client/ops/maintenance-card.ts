import { secondsLeft } from '../../common/countdown.ts';
import type { OpsClient } from '../../protocol/ops-client.ts';
import { act, type Card, statusOf } from './card.ts';
import { required } from './dom.ts';
import { asRecord, str } from './json-fields.ts';

/** Maintenance (#maintenance-card): its state and seconds left, start a countdown, cancel or end it. */
export function createMaintenanceCard(api: OpsClient): Card {
  const card = required<HTMLElement>('#maintenance-card');
  const status = statusOf(card);
  const form = required<HTMLFormElement>('#maintenance-form');
  const startButton = required<HTMLButtonElement>('button[type="submit"]', form);
  const stopButton = required<HTMLButtonElement>('#maintenance-stop');
  const stateText = required<HTMLElement>('[data-maintenance-state]', card);
  const leftText = required<HTMLElement>('[data-maintenance-left]', card);

  let maintenance: { state: string; deadline?: number } = { state: 'unknown' };
  let ticker: ReturnType<typeof setInterval> | undefined;

  function renderLeft(): void {
    const { state, deadline } = maintenance;
    leftText.textContent = state === 'countdown' && deadline !== undefined ? `${secondsLeft(deadline, Date.now())} s left` : '';
  }

  function render(): void {
    const { state } = maintenance;
    stateText.textContent = state;
    stateText.dataset.state = state;
    card.dataset.state = state;
    startButton.disabled = state === 'countdown' || state === 'active';
    stopButton.hidden = state !== 'countdown' && state !== 'active';
    stopButton.textContent = state === 'countdown' ? 'Cancel countdown' : 'End maintenance';
    renderLeft();
    if (state === 'countdown') ticker ??= setInterval(renderLeft, 250);
    else if (ticker !== undefined) {
      clearInterval(ticker);
      ticker = undefined;
    }
  }

  async function refresh(): Promise<void> {
    try {
      const body = asRecord(await api.get<unknown>('/maintenance'));
      const deadline = str(body.deadline) ? Date.parse(String(body.deadline)) : Number.NaN;
      maintenance = { state: str(body.state) ?? 'unknown' };
      if (Number.isFinite(deadline)) maintenance.deadline = deadline;
      render();
      status.clearError();
    } catch (error) {
      status.error(error);
    }
  }

  // Starting a countdown closes the store for every visitor: the form only asks, and a second,
  // in-page step (not window.confirm, which a headless browser and some kiosks suppress) starts it.
  const confirmBox = required<HTMLElement>('#maintenance-confirm');
  const confirmText = required<HTMLElement>('#maintenance-confirm-text');
  const confirmYes = required<HTMLButtonElement>('#maintenance-confirm-yes');
  const confirmNo = required<HTMLButtonElement>('#maintenance-confirm-no');
  let asked: { seconds: number; message: string } | undefined;

  function showConfirm(request: { seconds: number; message: string } | undefined): void {
    asked = request;
    confirmBox.hidden = request === undefined;
    form.hidden = request !== undefined;
    if (!request) return;
    const quoted = request.message ? ` with the message "${request.message}"` : '';
    confirmText.textContent =
      `Start a ${request.seconds}-second countdown now${quoted}? Every visitor sees it; when it ends, ` +
      'the store answers with its maintenance page until you end maintenance.';
    confirmYes.focus();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    const seconds = Math.trunc(Number(fields.get('seconds')));
    const message = String(fields.get('message') ?? '').trim();
    status.clear();
    showConfirm({ seconds, message });
  });

  confirmNo.addEventListener('click', () => {
    showConfirm(undefined);
    startButton.focus();
  });

  confirmYes.addEventListener('click', () => {
    if (!asked) return;
    const { seconds, message } = asked;
    void act(status, confirmYes, 'Starting the countdown…', async () => {
      try {
        await api.send('POST', '/maintenance', message ? { seconds, message } : { seconds });
      } finally {
        showConfirm(undefined);
      }
      await refresh();
      return `Countdown of ${seconds} s started.`;
    });
  });

  stopButton.addEventListener('click', () => {
    const ending = maintenance.state === 'active';
    void act(status, stopButton, ending ? 'Ending maintenance…' : 'Cancelling…', async () => {
      await api.send('DELETE', '/maintenance');
      await refresh();
      return ending ? 'Maintenance ended: the site is open.' : 'Countdown cancelled.';
    });
  });

  return { status, refresh };
}
