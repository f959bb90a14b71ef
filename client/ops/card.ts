import { OpsApiError } from '../../protocol/ops-client.ts';
import { required } from './dom.ts';

/** What main.ts needs of every card: its status line, and a load that keeps it current. */
export interface Card {
  status: Status;
  /** Reloads the card; an error goes to its status line, never out. */
  refresh(): Promise<void>;
}

/** The one line under a card's title that says how the last action or load went. */
export interface Status {
  pending(text: string): void;
  ok(text: string): void;
  error(error: unknown): void;
  clear(): void;
  /** Clears an error a later success has made stale; leaves other messages. */
  clearError(): void;
}

/** An error as the operator reads it: the API's message and code, else a pointer to the browser console. */
export function describe(error: unknown): string {
  if (error instanceof OpsApiError) return error.status === 0 ? error.message : `${error.message} (${error.code})`;
  console.error(error);
  return 'Something went wrong in the console; see the browser console.';
}

/**
 * How long a success stays on its status line. An error stays until a later success clears
 * it: the operator must not miss it. A pending line stays until its action ends.
 */
export const OK_STATUS_MS = 6000;

export function statusOf(card: HTMLElement): Status {
  const line = required<HTMLElement>('[data-status]', card);
  let fading: ReturnType<typeof setTimeout> | undefined;
  const set = (state: string, text: string) => {
    clearTimeout(fading);
    fading = undefined;
    line.dataset.state = state;
    line.textContent = text;
  };
  return {
    pending: (text) => set('pending', text),
    ok: (text) => {
      set('ok', text);
      fading = setTimeout(() => set('', ''), OK_STATUS_MS);
    },
    error: (error) => set('error', describe(error)),
    clear: () => set('', ''),
    clearError: () => {
      if (line.dataset.state === 'error') set('', '');
    },
  };
}

/** Runs one operator action: button disabled meanwhile, outcome in the card's status line. */
export async function act(status: Status, button: HTMLButtonElement | undefined, pending: string, run: () => Promise<string>) {
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
