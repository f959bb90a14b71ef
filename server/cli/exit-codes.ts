import { CommanderError } from 'commander';
import { OpsApiError } from '../../protocol/ops-client.ts';

/**
 * The ops CLI's exit codes: one per thing a script would handle differently. Listed in
 * `ops --help` (EXIT_CODES_HELP), so changing one is a change to the CLI's contract.
 */
export const EXIT = Object.freeze({
  ok: 0,
  other: 1,
  usage: 2,
  auth: 3,
  unreachable: 4,
  notFound: 5,
  conflict: 6,
  nothingReached: 7,
});

export const EXIT_CODES_HELP = `Exit codes:
  0  ok
  1  anything else (a job failed, the server failed)
  2  usage: unknown command or option, a missing or bad argument, input the server refused
     (400), a bad setting (FLASHCAST_URL, or no OPS_TOKEN)
  3  auth: the token was refused (401), lacks the role (403), or too many were refused (429)
  4  unreachable: nothing answered at FLASHCAST_URL
  5  not found (404): no such promotion, job or operator
  6  conflict (409): maintenance already scheduled, counting down or on
  7  nothing reached: the flash was written to no session (a warning on stderr)`;

/** A flash that reached no session: the output is printed, then the CLI exits 7. */
export class NothingReachedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NothingReachedError';
  }
}

/** What a person should check, by exit code; the server's own message comes first. */
const HINTS: Partial<Record<number, string>> = {
  [EXIT.auth]: 'check OPS_TOKEN: the administrator token, or an operator token with the role this needs',
  [EXIT.unreachable]: 'set FLASHCAST_URL to the address flashcast serves (default http://HOST:PORT)',
};

export function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof NothingReachedError) return EXIT.nothingReached;
  if (error instanceof OpsApiError) {
    if (error.status === 0) return EXIT.unreachable;
    if (error.status === 400) return EXIT.usage;
    if (error.status === 401 || error.status === 403 || error.status === 429) return EXIT.auth;
    if (error.status === 404) return EXIT.notFound;
    if (error.status === 409) return EXIT.conflict;
    return EXIT.other;
  }
  // By name, not instanceof: importing config.ts (and zod) would slow every start, --help too.
  if (error instanceof Error && error.name === 'ConfigError') return EXIT.usage;
  return EXIT.other;
}

/** The lines for stderr; none for commander's errors, which it has printed itself. */
export function describeError(error: unknown): string {
  if (error instanceof CommanderError) return '';
  if (error instanceof NothingReachedError) return `ops: warning: ${error.message}\n`;
  if (error instanceof OpsApiError) {
    const hint = HINTS[exitCodeFor(error)];
    return `ops: ${error.code}: ${error.message}\n${hint ? `ops: ${hint}\n` : ''}`;
  }
  if (error instanceof Error && error.name === 'ConfigError') return `ops: ${error.message}\n`;
  return `ops: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`;
}
