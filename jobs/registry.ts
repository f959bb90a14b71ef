import type { JobDefinition } from './job-definition.ts';
import { maintenanceCountdownJob } from './maintenance-countdown.ts';
import { promotionRoundJob } from './promotion-round.ts';
import { sessionCleanupJob } from './session-cleanup.ts';

/**
 * Every job flashcast runs: the one place a new job is added (its file beside this one,
 * calling its domain module). A worker defines them all; a web process defines none.
 */
export const jobDefinitions: readonly JobDefinition[] = [promotionRoundJob, sessionCleanupJob, maintenanceCountdownJob];
