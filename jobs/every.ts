import type { Agenda } from 'agenda';
import { validationFailed } from '../server/errors.ts';

/**
 * A repeating schedule as ops write it: a human interval ("1 minute", "30 seconds",
 * "1 hour and 30 minutes") or a cron expression ("*\/5 * * * *", with an optional seconds
 * field). Agenda's own parser (human-interval) is lenient in ways that would store nonsense:
 * "1 minute banana" is a minute, "10 milliseconds" is ten seconds, "a minute" is zero (a
 * job that runs on every poll). So the text is checked against a strict grammar first, then
 * computed by Agenda itself, so that what we accept is exactly what Agenda will run.
 */

const UNIT = '(?:second|minute|hour|day|week)s?';
const PART = `\\d+(?:\\.\\d+)?\\s*${UNIT}`;
const HUMAN = new RegExp(`^${PART}(?:\\s*(?:,\\s*)?(?:and\\s+)?${PART})*$`);
/** Five or six fields of cron's characters; cron-parser (through Agenda) checks the rest. */
const CRON = /^[\d*/,?#LW A-Za-z-]+$/;

/** Shorter than this would make a job run on (nearly) every poll. */
export const MIN_INTERVAL_MS = 1000;
const MAX_LENGTH = 100;

/** Milliseconds between two runs of `every`, as Agenda computes them; undefined if it cannot. */
function gapMs(agenda: Agenda, every: string): number | undefined {
  const first = new Date(Date.UTC(2030, 0, 1));
  const next = (after: Date): Date | undefined => {
    const job = agenda.create('schedule-check');
    job.attrs.lastRunAt = after;
    job.repeatEvery(every);
    return job.attrs.failReason || !job.attrs.nextRunAt ? undefined : job.attrs.nextRunAt;
  };
  const second = next(first);
  const third = second && next(second);
  return second && third ? third.getTime() - second.getTime() : undefined;
}

/** The schedule normalized as Agenda will store it; a 400 that says what is accepted otherwise. */
export function parseEvery(agenda: Agenda, raw: unknown): string {
  const accepted =
    'every: give an interval such as "1 minute", "30 seconds" or "1 hour and 30 minutes", or a cron expression such as "*/5 * * * *"';
  if (typeof raw !== 'string') throw validationFailed(accepted);
  const every = raw.trim().replace(/\s+/g, ' ');
  const human = every.toLowerCase();
  let normalized: string | undefined;
  if (every.length > 0 && every.length <= MAX_LENGTH) {
    if (HUMAN.test(human)) normalized = human;
    else if (CRON.test(every) && [5, 6].includes(every.split(' ').length)) normalized = every;
  }
  const gap = normalized === undefined ? undefined : gapMs(agenda, normalized);
  if (normalized === undefined || gap === undefined || !Number.isFinite(gap)) throw validationFailed(accepted);
  if (gap < MIN_INTERVAL_MS) throw validationFailed(`every: "${every}" repeats more often than once a second; give a longer interval`);
  return normalized;
}
