/** The room of one session's sockets, keyed by the stored session key (never the cookie id). */
export const sessionRoom = (key: string): string => `session:${key}`;

/** Every visitor socket joins this room: a push to all active sessions is one emit here. */
export const VISITORS_ROOM = 'visitors';
