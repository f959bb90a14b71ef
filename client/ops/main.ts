/// <reference types="vite/client" />
/**
 * The ops console (/ops): live presence, session stats, flashes, promotions with their
 * results, job schedules, maintenance and the audit trail, all through /ops/api.
 *
 * The operator signs in with a token once (POST /ops/api/session); from then on the browser
 * holds an ops session cookie (HttpOnly, SameSite=Strict) and the token is kept nowhere. The
 * same session opens Agendash. A 401 (idle timeout, sign-out elsewhere, revoked operator)
 * brings the sign-in back.
 *
 * Each card is its own file (presence-card.ts, promotions-card.ts, …); this one wires them:
 * the API client, sign-in, and how often each card reloads while the console shows.
 */
import './ops.css';
import { createOpsClient } from '../../protocol/ops-client.ts';
import { createAuditCard } from './audit-card.ts';
import { createFlashCard } from './flash-card.ts';
import { createJobsCard } from './jobs-card.ts';
import { createMaintenanceCard } from './maintenance-card.ts';
import { poller } from './poller.ts';
import { createPresenceCard } from './presence-card.ts';
import { createPromotionsCard } from './promotions-card.ts';
import { createSessionsCard } from './sessions-card.ts';
import { createSignIn } from './sign-in.ts';

const PRESENCE_EVERY_MS = 2000;
const SESSIONS_EVERY_MS = 10_000;
const SLOW_EVERY_MS = 15_000;

const api = createOpsClient({
  baseUrl: '',
  onUnauthorized: () => {
    if (signIn.who())
      signIn.ask('Your ops session has ended (30 minutes without use, signed out, or the token was revoked). Sign in again.');
  },
});

const presence = createPresenceCard(api);
const maintenance = createMaintenanceCard(api);
const sessions = createSessionsCard(api);
const flash = createFlashCard(api);
const promotions = createPromotionsCard(api);
const jobs = createJobsCard(api);
const audit = createAuditCard(api);
const statuses = [presence, maintenance, sessions, flash, promotions, jobs, audit].map((card) => card.status);

const pollers = [
  // Presence and maintenance every 2 s: the two an operator watches during a countdown.
  poller(() => Promise.all([presence.refresh(), maintenance.refresh()]).then(() => undefined), PRESENCE_EVERY_MS),
  poller(sessions.refresh, SESSIONS_EVERY_MS),
  poller(promotions.refresh, SLOW_EVERY_MS),
  poller(jobs.refresh, SLOW_EVERY_MS),
  poller(audit.refresh, SLOW_EVERY_MS),
];

function startPolling(): void {
  if (signIn.who() && !document.hidden) for (const p of pollers) p.start();
}

function stopPolling(): void {
  for (const p of pollers) p.stop();
}

const signIn = createSignIn({
  api,
  opened: () => {
    for (const status of statuses) status.clear();
    startPolling();
  },
  closed: stopPolling,
});

// A hidden tab stops polling; coming back refreshes at once.
document.addEventListener('visibilitychange', () => {
  if (document.hidden) stopPolling();
  else startPolling();
});

// Already signed in (the ops session cookie of an earlier visit)?
signIn.resume();
