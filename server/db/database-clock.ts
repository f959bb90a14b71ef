/**
 * The database's clock, as seen from this process. Deadlines (the maintenance countdown's)
 * are stored by PostgreSQL's `clock_timestamp()`, so they are compared with PostgreSQL's
 * time, not this machine's: a web process whose clock is 3 s fast would otherwise close its
 * gate 3 s early and tell a new visitor "2 seconds" with 5 left.
 *
 * The offset is measured against `now()` (by the database health check, every second) as
 * NTP does: half the round trip is assumed to be each way, and the sample with the shortest
 * round trip in the recent window wins, so one slow answer does not move the clock.
 */
export interface DatabaseClock {
  /** Milliseconds since the epoch on the database's clock. */
  now(): number;
  /** Database time minus this process's time, in ms (0 until the first sample). */
  readonly offsetMs: number;
  /** One sample: this process's time just before the query, the database's answer, and just after. */
  sample(sentAt: number, databaseNow: number, receivedAt: number): void;
  /** This process's own clock (Date.now, or a skewed one in tests). */
  localNow(): number;
}

/** Samples kept; the one with the shortest round trip among them sets the offset. */
const WINDOW = 16;

export function createDatabaseClock(options: { localNow?: () => number } = {}): DatabaseClock {
  const localNow = options.localNow ?? Date.now;
  const samples: Array<{ offset: number; roundTrip: number }> = [];
  let offsetMs = 0;
  return {
    now: () => localNow() + offsetMs,
    get offsetMs() {
      return offsetMs;
    },
    localNow,
    sample(sentAt, databaseNow, receivedAt) {
      const roundTrip = Math.max(0, receivedAt - sentAt);
      samples.push({ offset: databaseNow - (sentAt + roundTrip / 2), roundTrip });
      if (samples.length > WINDOW) samples.shift();
      let best = samples[0]!;
      for (const candidate of samples) if (candidate.roundTrip < best.roundTrip) best = candidate;
      offsetMs = Math.round(best.offset);
    },
  };
}

/** A clock that simply is this machine's: for code paths and tests that have no database clock. */
export const systemClock: DatabaseClock = {
  now: Date.now,
  offsetMs: 0,
  localNow: Date.now,
  sample: () => undefined,
};
