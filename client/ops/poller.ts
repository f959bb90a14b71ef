export interface Poller {
  start(): void;
  stop(): void;
  now(): Promise<void>;
}

/** Runs `work` every `every` ms while started, never two at once. */
export function poller(work: () => Promise<void>, every: number): Poller {
  let timer: ReturnType<typeof setInterval> | undefined;
  let running: Promise<void> | undefined;
  const now = () => {
    running ??= work().finally(() => {
      running = undefined;
    });
    return running;
  };
  return {
    start() {
      if (timer !== undefined) return;
      void now();
      timer = setInterval(() => void now(), every);
    },
    stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
    now,
  };
}
