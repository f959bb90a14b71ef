/**
 * The maintenance countdown as visitors read it, the same in the server (the flash it writes,
 * the `maintenance` events, the page it renders) and in the browser (the widget's ticking
 * banner): the seconds left, the sentence around them, and the unit agreeing with the number.
 * Pure functions: no DOM, no Node.
 */

/** Whole seconds from `nowMs` until `deadlineMs`, rounded up; 0 once the deadline has passed. */
export function secondsLeft(deadlineMs: number, nowMs: number): number {
  const ms = deadlineMs - nowMs;
  return ms > 0 ? Math.ceil(ms / 1000) : 0;
}

/** "second" for 1, "seconds" for any other number. */
export const secondsUnit = (seconds: number): string => (seconds === 1 ? 'second' : 'seconds');

const DEFAULT_TEXT = 'Server shutting down in {seconds} seconds';

/**
 * A countdown's text, `{seconds}` still in it: ops' own message when it places the number
 * itself, else the standard sentence followed by ops' message, if any.
 */
export function countdownText(message: string | undefined): string {
  if (!message) return DEFAULT_TEXT;
  if (message.includes('{seconds}')) return message;
  return `${DEFAULT_TEXT}. ${message}`;
}

/** The text with `{seconds}` filled in, its unit agreeing: "in 1 second", "in 2 seconds". */
export function fillSeconds(text: string, seconds: number): string {
  return text
    .replace(/\{seconds\}(\s*)seconds?\b/gi, (_match, space: string) => `${seconds}${space}${secondsUnit(seconds)}`)
    .replaceAll('{seconds}', String(seconds));
}

/**
 * The text of a countdown banner built from a live event: the event's text when it already
 * holds the number (the server fills it in), else the standard sentence with `extra` after it.
 */
export function countdownMessage(seconds: number, extra?: string): string {
  if (extra && splitCountdownMessage(extra)) return extra;
  return fillSeconds(countdownText(extra), seconds);
}

export interface CountdownParts {
  before: string;
  seconds: number;
  after: string;
}

const countdownPattern = /(\d+)(\s*seconds?\b)/i;

/**
 * Splits "Server shutting down in 27 seconds" around its number so the number can live in its
 * own element (`data-maintenance-countdown`) and the text around it stays the server's words.
 */
export function splitCountdownMessage(message: string): CountdownParts | undefined {
  const match = countdownPattern.exec(message);
  if (!match || match[1] === undefined) return undefined;
  return {
    before: message.slice(0, match.index),
    seconds: Number(match[1]),
    after: message.slice(match.index + match[1].length),
  };
}

/** The word after a countdown's number ("seconds", "second"), made to agree with the number. */
export function agreeUnit(after: string, seconds: number): string {
  return after.replace(/^(\s*)seconds?\b/i, (_match, space: string) => space + secondsUnit(seconds));
}

// ---------------------------------------------------------------------------------------------
// A browser's clock against the server's

/** How far the server's clock is ahead of ours: add it to `Date.now()` to get server time. */
export function clockOffset(serverTime: number, receivedAt: number): number {
  return Number.isFinite(serverTime) ? serverTime - receivedAt : 0;
}

/**
 * A page rendered by the server shows the seconds left at render time. If our clock disagrees
 * with the deadline by more than a second of rounding, our clock is off: estimate the offset
 * from the rendered number (the server's "now" was within the second before
 * `deadline - seconds`, so take the middle of it). Otherwise trust our clock (offset 0).
 */
export function offsetFromRendered(deadline: number, renderedSeconds: number, clientNow: number): number {
  if (Math.abs(secondsLeft(deadline, clientNow) - renderedSeconds) <= 1) return 0;
  const serverNow = deadline - (renderedSeconds - 0.5) * 1000;
  return serverNow - clientNow;
}
