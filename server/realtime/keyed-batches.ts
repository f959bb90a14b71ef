/**
 * Work that arrives per session key, done one statement at a time: items that arrive while a
 * statement runs are gathered by key and served by the next one (at most `maxBatch` keys
 * each). A deploy's reconnect storm then costs a few statements, not one per socket, and never
 * a queue of statements in the pool. Used by the handshake session check and by the pending
 * flashes sent at connect.
 */
export interface KeyedBatches<T> {
  /** Queues an item under its key; a batch starts at once if none is running. Ignored once closed. */
  add(key: string, item: T): void;
  /** Takes no more batches; what is still waiting goes to `onClose` (after a running batch, if one is). */
  close(): void;
}

export interface KeyedBatchesOptions<T> {
  /** The most keys one batch holds. */
  maxBatch: number;
  /** Serves one batch: every waiting item of each of its keys. Must not throw. */
  run(batch: Map<string, T[]>): Promise<void>;
  /** Items still waiting when the batches were closed. */
  onClose?(left: T[]): void;
}

export function createKeyedBatches<T>(options: KeyedBatchesOptions<T>): KeyedBatches<T> {
  if (!(options.maxBatch >= 1)) throw new RangeError('maxBatch must be at least 1');
  /** Items waiting, by key. Each is tied to an open connection, so connections bound it. */
  let waiting = new Map<string, T[]>();
  let running = false;
  let closed = false;

  const dropWaiting = (): void => {
    const left = [...waiting.values()].flat();
    waiting = new Map();
    options.onClose?.(left);
  };

  const drain = async (): Promise<void> => {
    running = true;
    while (waiting.size > 0 && !closed) {
      const batch = new Map<string, T[]>();
      for (const [key, items] of waiting) {
        if (batch.size >= options.maxBatch) break;
        batch.set(key, items);
        waiting.delete(key);
      }
      await options.run(batch);
    }
    running = false;
    if (closed) dropWaiting();
  };

  return {
    add(key, item) {
      if (closed) return;
      const items = waiting.get(key);
      if (items) items.push(item);
      else waiting.set(key, [item]);
      if (!running) void drain();
    },
    close() {
      closed = true;
      // A running batch hands over the rest when its statement returns.
      if (!running) dropWaiting();
    },
  };
}
