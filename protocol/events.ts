/**
 * The one declaration of what crosses the wire between the server and the browser:
 * Socket.IO events and the JSON bodies of the visitor API. Imported by server and client
 * alike, so a change here is a change to both (and to CONTRACT.md).
 */

/** A flash as the browser sees it. `id` is unique per write; `key` names its slot. */
export interface Flash {
  id: string;
  key: string;
  message: string;
  /** Extra fields a writer may attach (a promotion's id and link, for instance). */
  data?: Record<string, unknown>;
  createdAt: string;
}

export type MaintenanceState = 'idle' | 'countdown' | 'active';

export interface MaintenanceEvent {
  state: MaintenanceState;
  /** ISO time at which the countdown ends. */
  deadline?: string;
  secondsLeft?: number;
  message?: string;
  /** The server's clock when the event was sent (ms since epoch), to correct the client's. */
  serverTime: number;
}

export interface FlashAck {
  ids: string[];
}

/** Largest number of ids one acknowledgement may carry; longer ones are refused. */
export const MAX_ACK_IDS = 100;

export interface ServerToClientEvents {
  flash: (flash: Flash) => void;
  maintenance: (state: MaintenanceEvent) => void;
}

export interface ClientToServerEvents {
  'flash:ack': (ack: FlashAck) => void;
  /** The widget reports what the visitor did with a promotion banner. */
  'promotion:event': (event: PromotionEvent) => void;
}

export interface PromotionEvent {
  promotionId: number;
  action: 'displayed' | 'clicked' | 'dismissed';
}

/**
 * Codes carried by `connect_error` when a handshake is refused. TOO_MANY_SOCKETS: the session
 * already has as many sockets open as the server allows (tabs beyond that get no live banners).
 */
export type HandshakeErrorCode = 'NO_SESSION' | 'ORIGIN_NOT_ALLOWED' | 'TOO_MANY_SOCKETS';

export interface FlashesResponse {
  flashes: Flash[];
}

export interface ApiError {
  error: { code: string; message: string };
}
