import type { Flash, ServerToClientEvents } from '../../protocol/events.ts';
import { secondsSince, type Metrics } from '../metrics.ts';
import type { FlashInput } from '../sessions/flash.ts';
import type { FlashTarget, Sessions, WrittenFlash } from '../sessions/sessions.ts';
import { VISITORS_ROOM, sessionRoom } from './rooms.ts';

/**
 * What can emit to rooms: the in-process Socket.IO server, or (in a worker process) the
 * PostgreSQL emitter that reaches the web processes' sockets through their adapter.
 */
export interface RoomEmitter {
  to(room: string | string[]): {
    emit<E extends keyof ServerToClientEvents>(event: E, ...args: Parameters<ServerToClientEvents[E]>): unknown;
  };
}

/** An emitter for processes that hold no sockets and reach none (tests of the write path). */
export const silentEmitter: RoomEmitter = { to: () => ({ emit: () => true }) };

/**
 * An emitter whose target is set later. The push must exist before the app (the ops API
 * uses it), the app before the HTTP server, and the server before the Socket.IO server that
 * the push emits through; this breaks that circle. Until `bind`, emits go nowhere, which
 * loses nothing: no socket can be connected before the Socket.IO server exists, and every
 * flash is written before it is emitted.
 */
export function deferredEmitter(): RoomEmitter & { bind(target: RoomEmitter): void } {
  let target: RoomEmitter = silentEmitter;
  return {
    to: (room) => target.to(room),
    bind(next) {
      target = next;
    },
  };
}

/**
 * Delivery of a flash: written into the sessions first, then emitted to their rooms, so a
 * tab that misses the emit (offline, reconnecting) still finds it on its next fetch.
 * A push to many sessions is one emit to the shared visitors room, not one per session.
 */
export function createPush(deps: {
  sessions: Sessions;
  emitter: RoomEmitter;
  metrics?: Pick<Metrics, 'pushWriteSeconds' | 'pushEmitSeconds'>;
}) {
  const emitFlash = (target: FlashTarget, written: WrittenFlash): void => {
    if (written.sessions === 0) return;
    const flash: Flash = written.flash;
    if (typeof target === 'object') {
      deps.emitter.to((written.reached ?? []).map(sessionRoom)).emit('flash', flash);
    } else {
      deps.emitter.to(VISITORS_ROOM).emit('flash', flash);
    }
  };

  return {
    async flash(target: FlashTarget, input: FlashInput): Promise<WrittenFlash> {
      const writing = performance.now();
      const written = await deps.sessions.writeFlash(target, input);
      deps.metrics?.pushWriteSeconds.observe(secondsSince(writing));
      const emitting = performance.now();
      emitFlash(target, written);
      deps.metrics?.pushEmitSeconds.observe(secondsSince(emitting));
      return written;
    },
  };
}

export type Push = ReturnType<typeof createPush>;
