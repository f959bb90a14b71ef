import type { Logger } from '../logger.ts';
import { errorSummary } from '../db/outage-log.ts';
import type { Pool } from '../db/pool.ts';
import type { Flash } from '../../protocol/events.ts';
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
 * was away without an HTTP call. One statement at a time: sockets that connect while it runs
 * are gathered into the next one (at most MAX_CONNECT_BATCH sessions each), so a deploy's
 * reconnect storm costs a few statements, not one per socket, and never a queue of them in the
 * pool (as handshake-sessions.ts does for the session check). Each socket is sent its flashes
 * once, to itself and not to its room: the session's other tabs have them already.
 */
export function createConnectFlashes(deps: { pool: Pool; logger: Logger }, options: { maxBatch?: number } = {}): ConnectFlashes {
  const maxBatch = options.maxBatch ?? MAX_CONNECT_BATCH;
  if (!(maxBatch >= 1)) throw new RangeError('maxBatch must be at least 1');
  /** Sockets waiting, by session key. Each is a connected socket, so connections bound it. */
  let waiting = new Map<string, FlashReceiver[]>();
  let running = false;
  let closed = false;

  const drain = async (): Promise<void> => {
    running = true;
    while (waiting.size > 0 && !closed) {
      const batch = new Map<string, FlashReceiver[]>();
      for (const [key, sockets] of waiting) {
        if (batch.size >= maxBatch) break;
        batch.set(key, sockets);
        waiting.delete(key);
      }
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
    }
    running = false;
  };

  return {
    send(socket, sessionKey) {
      if (closed) return;
      const sockets = waiting.get(sessionKey);
      if (sockets) sockets.push(socket);
      else waiting.set(sessionKey, [socket]);
      if (!running) void drain();
    },
    close() {
      closed = true;
      waiting = new Map();
    },
  };
}
