/** Stable code of GatewaySessionClosedError (not in the relay catalog: it never reaches a gateway). */
export const SESSION_CLOSED = 'SESSION_CLOSED';

/** send() on a session whose socket is closing or closed: the event was not written and stays the caller's to keep. */
export class GatewaySessionClosedError extends Error {
  readonly code = SESSION_CLOSED;

  constructor(message = 'gateway session is closed', options?: ErrorOptions) {
    super(message, options);
    this.name = 'GatewaySessionClosedError';
  }
}

/** Narrows unknown to GatewaySessionClosedError. */
export function isGatewaySessionClosedError(err: unknown): err is GatewaySessionClosedError {
  return err instanceof GatewaySessionClosedError;
}
