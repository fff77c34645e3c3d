/** Codes the SDK itself produces; a refusal by the relay carries the relay's own catalog code instead. */
export type SdkErrorCode =
  /** No answer from the relay within `requestTimeoutMs`. */
  | 'TIMEOUT'
  /** The gateway was closed (by `close()`, or it stopped for good) before the request was answered. */
  | 'CLOSED'
  /** The relay sent an error frame without a code of its own. */
  | 'RELAY_ERROR'
  /** A command was called with an argument the relay would refuse anyway. */
  | 'INVALID_ARGUMENT'
  /** More requests are waiting for an answer than `maxPendingRequests` allows. */
  | 'TOO_MANY_PENDING';

/**
 * A failed command. `code` is the relay's catalog code when the relay refused the request (`NOT_BOUND`,
 * `SEND_WINDOW_CLOSED`, `CONTENT_TOO_LONG`, ...), otherwise one of {@link SdkErrorCode}.
 */
export class GatewayError extends Error {
  readonly code: SdkErrorCode | (string & {});
  /** The request id the relay named in its error frame. */
  readonly requestId: string | undefined;
  /** WeCom's errcode, when WeCom refused the request. */
  readonly wecomErrcode: number | undefined;

  constructor(
    code: SdkErrorCode | (string & {}),
    message: string,
    extra: { requestId?: string | undefined; wecomErrcode?: number | undefined } = {},
  ) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    this.requestId = extra.requestId;
    this.wecomErrcode = extra.wecomErrcode;
  }
}

/** Why the gateway stopped reconnecting. */
export type StopKind =
  /** You called `close()`. */
  | 'closed'
  /** 4003: the relay refused the gateway id / auth token. Check the token; retrying cannot help. */
  | 'auth_failed'
  /** 4004: another connection with the same gateway id took over. Two processes share one id. */
  | 'superseded'
  /** 4001/4002: the relay did not get a hello in time or got another frame first (a bug, not a network issue). */
  | 'protocol';

/** How and why the gateway stopped for good. */
export interface StopReason {
  kind: StopKind;
  /** The WebSocket close code that ended it (1000 for `closed`). */
  code: number;
  reason: string;
}

/** Close codes that end the gateway instead of triggering a reconnect, and what they mean. */
export const STOP_CODES: Readonly<Record<number, StopKind>> = {
  4001: 'protocol',
  4002: 'protocol',
  4003: 'auth_failed',
  4004: 'superseded',
};
