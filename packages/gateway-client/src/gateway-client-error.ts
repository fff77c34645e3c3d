import type { WireFrame } from './wire-frames.js';

/** Why a gateway client operation failed, when the reason is on the client's side of the socket. */
export type GatewayClientErrorCode =
  /** The relay answered with an error frame that carried no code of its own. */
  | 'RELAY_ERROR'
  /** No answer within the timeout. */
  | 'TIMEOUT'
  /** The socket closed first; `closeCode` says how. */
  | 'CLOSED'
  /** The socket could not be opened at all. */
  | 'CONNECT_FAILED'
  /** The operation needs an open socket. */
  | 'NOT_CONNECTED'
  /** connect()/open() while the previous socket is still open or closing. */
  | 'ALREADY_OPEN';

/**
 * A failed gateway client operation. When the relay refused a request, `code` is the relay's catalog code
 * (NOT_BOUND, FRAME_INVALID, ...) and `frame` the error frame itself; otherwise it is a GatewayClientErrorCode.
 */
export class GatewayClientError extends Error {
  readonly code: GatewayClientErrorCode | (string & {});
  /** The relay's error frame, when the relay refused the request. */
  readonly frame: WireFrame | undefined;
  /** The request id the relay's error frame named. */
  readonly requestId: string | undefined;
  /** The WebSocket close code, for CLOSED. */
  readonly closeCode: number | undefined;

  constructor(
    code: GatewayClientErrorCode,
    message: string,
    extra: { frame?: WireFrame; closeCode?: number } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'GatewayClientError';
    const relayCode = extra.frame?.code;
    this.code = typeof relayCode === 'string' && relayCode !== '' ? relayCode : code;
    this.frame = extra.frame;
    this.requestId = typeof extra.frame?.id === 'string' ? extra.frame.id : undefined;
    this.closeCode = extra.closeCode;
  }
}
