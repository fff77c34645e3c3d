/** The part of the standard WebSocket API the SDK uses; browsers, Node ≥ 22 and the `ws` package provide it. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: (event: unknown) => void): void;
}

/** A WebSocket class: `globalThis.WebSocket`, or `WebSocket` from the `ws` package on Node 20. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** readyState of an open socket in every implementation. */
export const WS_OPEN = 1;

/** The platform's WebSocket, or a clear error saying how to supply one. */
export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor {
  const found = given ?? (globalThis as unknown as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!found) {
    throw new TypeError(
      'no WebSocket implementation: this runtime has no global WebSocket (Node < 22); ' +
        "pass one, e.g. `import WebSocket from 'ws'` and `new RelayGateway({ WebSocket, ... })`",
    );
  }
  return found;
}

/**
 * Calls `onPing` whenever the socket reports a WebSocket-level ping, when it can (the `ws` package emits them;
 * browsers answer pings invisibly). Returns whether it could.
 */
export function observePings(socket: WebSocketLike, onPing: () => void): boolean {
  const emitter = socket as unknown as { on?: (event: string, fn: () => void) => unknown };
  if (typeof emitter.on !== 'function') return false;
  emitter.on('ping', onPing);
  return true;
}

/** Drops the connection at once where the implementation can (`ws`'s terminate), else starts a close. */
export function abortSocket(socket: WebSocketLike, code: number, reason: string): void {
  const terminable = socket as unknown as { terminate?: () => void };
  try {
    if (typeof terminable.terminate === 'function') terminable.terminate();
    else socket.close(code, reason);
  } catch {
    // A socket that cannot even be closed is already gone; the SDK has forgotten it either way.
  }
}

/** The text of a message event's data; binary frames are not part of the protocol and come back null. */
export function messageText(data: unknown): string | null {
  return typeof data === 'string' ? data : null;
}
