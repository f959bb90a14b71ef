/**
 * A worker process for the takeover tests: an Agenda with the countdown job on DATABASE_URL,
 * whose emits are written to stdout as JSON lines (one `{emit: {room, event, payload}}` each)
 * instead of reaching sockets. Prints `{ready: true}` once it takes jobs. Tests kill it.
 */
import { createAgenda } from '../../jobs/agenda.ts';
import { createMaintenanceCountdownJob } from '../../jobs/maintenance-countdown.ts';
import { createPool } from '../../server/db/pool.ts';
import { createLogger } from '../../server/logger.ts';
import { createPush, type RoomEmitter } from '../../server/realtime/push.ts';
import { createSessions } from '../../server/sessions/sessions.ts';

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
const pool = createPool({ url: process.env.DATABASE_URL!, logger });
const print = (message: unknown) => process.stdout.write(`${JSON.stringify(message)}\n`);

const emitter: RoomEmitter = {
  to: (room) => ({
    emit: (event, ...args) => {
      print({ emit: { room, event, payload: args[0] } });
      return true;
    },
  }),
};

const sessions = createSessions({ pool });
const handle = await createAgenda({ pool, logger, processName: process.env.PROCESS_NAME!, processEvery: 200 });
createMaintenanceCountdownJob({ lockLifetimeMs: Number(process.env.LOCK_LIFETIME_MS) }).define(handle.agenda, {
  pool,
  logger,
  sessions,
  push: createPush({ sessions, emitter }),
  emitter,
});
await handle.agenda.start();
print({ ready: true });
