import type { Logger } from '../logger.ts';
import { errorSummary } from '../db/outage-log.ts';
import type { Pool } from '../db/pool.ts';
import type { Flash } from '../../protocol/events.ts';
import { createKeyedBatches } from './keyed-batches.ts';
import { pendingFlashes } from './pending-flashes.ts';

/** The most sessions one read of pending flashes asks for; more waiting sockets take more statements. */
export const MAX_CONNECT_BATCH = 1000;

/** What this needs of a socket: whether it is still connected, and a way to send it a flash. */
export interface FlashReceiver {
  readonly connected: boolean;
  emit(event: 'flash', flash: Flash): unknown;
}

export interface ConnectFlashes {
  /** Sends the socket its session's pending flashes, once, as soon as the next batch is read. */
  send(socket: FlashReceiver, sessionKey: string): void;
  /** Sends nothing more; sockets still waiting get their flashes from the page's next load. */
  close(): void;
}

/**
 * At connect, every socket is sent its session's pending (unacknowledged) flashes, so any
 * Socket.IO client (a python-socketio one as much as the widget) gets what was written while it
 * was away without an HTTP call. In batches (keyed-batches.ts, as the handshake session check):
 * at most MAX_CONNECT_BATCH sessions a statement, one statement at a time. Each socket is sent its flashes
 * once, to itself and not to its room: the session's other tabs have them already.
 */
export function createConnectFlashes(deps: { pool: Pool; logger: Logger }, options: { maxBatch?: number } = {}): ConnectFlashes {
  const batches = createKeyedBatches<FlashReceiver>({
    maxBatch: options.maxBatch ?? MAX_CONNECT_BATCH,
    async run(batch) {
      try {
        const pending = await pendingFlashes(deps.pool, [...batch.keys()]);
        for (const [key, flashes] of pending) {
          for (const socket of batch.get(key) ?? []) {
            if (!socket.connected) continue;
            for (const flash of flashes) socket.emit('flash', flash);
          }
        }
      } catch (error) {
        // The widget shows them on the next page load; a reconnect asks again.
        deps.logger.warn({ error: errorSummary(error), sessions: batch.size }, 'could not send pending flashes at connect');
      }
    },
  });
  return {
    send: (socket, sessionKey) => batches.add(sessionKey, socket),
    close: () => batches.close(),
  };
}
