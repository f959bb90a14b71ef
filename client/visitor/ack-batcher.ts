/**
 * When the widget acknowledges what it showed: batched, well inside the 1 s the contract
 * promises. Timers are passed in, so tests drive them by hand.
 */
import { MAX_ACK_IDS } from '../../protocol/events.ts';

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

export interface AckBatcher {
  add(id: string): void;
  /** Sends what is pending now (page hide, reconnect). */
  flush(): void;
  pending(): string[];
}

export interface AckBatcherOptions {
  /** Ids shown within this window go out together. Well below the contract's 1 s. */
  delayMs?: number;
  /** Receives at most MAX_ACK_IDS ids per call. */
  send(ids: string[]): void;
  timers?: Timers;
}

/**
 * Collects ids shown close together and sends them in one acknowledgement, `delayMs` after the
 * first of them was shown: the first id's wait bounds every id's wait.
 */
export function createAckBatcher({ delayMs = 200, send, timers = realTimers }: AckBatcherOptions): AckBatcher {
  const pending = new Set<string>();
  let timer: unknown;
  const flush = () => {
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
    const ids = [...pending];
    pending.clear();
    for (let start = 0; start < ids.length; start += MAX_ACK_IDS) send(ids.slice(start, start + MAX_ACK_IDS));
  };
  return {
    add(id) {
      pending.add(id);
      if (timer === undefined) timer = timers.setTimeout(flush, delayMs);
    },
    flush,
    pending: () => [...pending],
  };
}
