import { countdownText, fillSeconds, secondsLeft } from '../../common/countdown.ts';
import type { MaintenanceEvent } from '../../protocol/events.ts';
import type { RoomEmitter } from '../realtime/push.ts';
import { VISITORS_ROOM } from '../realtime/rooms.ts';
import type { FlashcastSocket } from '../realtime/socket-server.ts';
import type { MaintenanceSnapshot } from './maintenance-store.ts';

/**
 * What visitors read during a countdown, and the `maintenance` events that carry it. The words
 * themselves (common/countdown.ts) are the widget's too.
 *
 * The flash holds the text with `{seconds}` and `data.deadline`; server/sessions/flash.ts
 * renders the number from the deadline whenever the flash is shown, so a page loaded
 * mid-countdown shows the seconds left then, not at the start. Events carry the same text
 * with the number filled in, so a banner the widget builds from an event reads exactly like
 * one built from the flash.
 */

export const FLASH_KEY = 'maintenance';

/** Ops' message for the maintenance page, where a number of seconds no longer means anything. */
export function maintenancePageMessage(message: string | undefined): string | undefined {
  return message && !message.includes('{seconds}') ? message : undefined;
}

export function countdownEvent(snapshot: MaintenanceSnapshot, seconds: number, now: number): MaintenanceEvent {
  return {
    state: 'countdown',
    ...(snapshot.deadline ? { deadline: snapshot.deadline.toISOString() } : {}),
    secondsLeft: seconds,
    message: fillSeconds(countdownText(snapshot.message), seconds),
    serverTime: now,
  };
}

/** The event that tells a visitor's tab the state it should be in now. */
export function stateEvent(snapshot: MaintenanceSnapshot, now: number = Date.now()): MaintenanceEvent {
  if (snapshot.state === 'countdown' && snapshot.deadline) {
    return countdownEvent(snapshot, secondsLeft(snapshot.deadline.getTime(), now), now);
  }
  if (snapshot.state === 'active') {
    const message = maintenancePageMessage(snapshot.message);
    return {
      state: 'active',
      ...(snapshot.deadline ? { deadline: snapshot.deadline.toISOString() } : {}),
      ...(message ? { message } : {}),
      serverTime: now,
    };
  }
  return { state: 'idle', serverTime: now };
}

/** One `maintenance` event to every visitor's tab (the shared visitors room). */
export function emitToVisitors(emitter: RoomEmitter, event: MaintenanceEvent): void {
  emitter.to(VISITORS_ROOM).emit('maintenance', event);
}

/**
 * The socket server's `onConnect` hook: a tab that connects (or reconnects) during a
 * countdown gets it at once, and one that reconnects after maintenance began reloads into the
 * maintenance page. Nothing is sent when idle: the widget would take `idle` as "end the
 * countdown" and drop a `maintenance` banner that ops pushed by hand. The state comes from this
 * process's view, so a connect storm costs no query.
 */
export function sendStateOnConnect(
  view: { current(): MaintenanceSnapshot },
  clock: { now(): number } = { now: Date.now },
): (socket: Pick<FlashcastSocket, 'emit'>) => void {
  return (socket) => {
    const snapshot = view.current();
    if (snapshot.state !== 'idle') socket.emit('maintenance', stateEvent(snapshot, clock.now()));
  };
}
