import { WebSocket } from 'ws';
import type { Logger } from 'pino';
import { encodeGatewayEvent, type DeliveryMode, type Dialect, type GatewayEvent, type GatewayFeature } from '@wecom-relay/shared';
import { ERROR_CATALOG } from '../errors/error-catalog.js';
import { RelayError } from '../errors/relay-error.js';
import { clampCloseReason } from './frame-peek.js';
import type { GatewaySession } from './gateway-types.js';
import type { SafeObserver } from './safe-observer.js';
import { GatewaySessionClosedError } from './session-closed-error.js';
import type { SendBudget } from './send-budget.js';

/** The close code this side sent on each socket it closed (ws reports only the peer's, or 1006 when cut off). */
const sentCloseCodes = new WeakMap<WebSocket, number>();

/** The code a socket was closed with: the one this side sent, else what ws reported (the peer's, or 1006). */
export function closeCodeOf(ws: WebSocket, reported: number): number {
  return sentCloseCodes.get(ws) ?? reported;
}

/** Starts a close handshake unless one is already under way; never throws. */
export function closeSocket(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState !== WebSocket.OPEN && ws.readyState !== WebSocket.CONNECTING) return;
  sentCloseCodes.set(ws, code);
  try {
    ws.close(code, clampCloseReason(reason));
  } catch {
    // An invalid code would be our bug, not the peer's; dropping the socket is still the right outcome.
    ws.terminate();
  }
}

/** What every socket's writer of a server shares. */
export interface EventWriterContext {
  /** Bytes a socket may have waiting to be written; past this a frame is refused and the socket closed 4009. */
  maxBufferedBytes: number;
  logger: Logger;
  observer: SafeObserver;
  budget: SendBudget;
}

/** Writes encoded events to one socket, refusing to queue more than the buffer cap for a peer that stopped reading. */
export class EventWriter {
  /** Frames waiting for the budget to admit them, and the settling of the last one's admission (none until one waits). */
  private waiting = 0;
  private turn: Promise<void> | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly context: EventWriterContext,
    private readonly owner: string,
  ) {}

  /**
   * Encodes in the dialect and writes; resolves once the bytes are handed to the socket. While the node's send
   * budget pauses this gateway the frame waits (rejecting if the socket closes meanwhile); otherwise it is
   * written synchronously, so frames written one after another keep their order on the wire.
   */
  write(dialect: Dialect, event: GatewayEvent): Promise<void> {
    const { budget } = this.context;
    if (this.waiting === 0 && budget.canWrite(this.owner)) return this.writeNow(dialect, event);
    // One frame at a time past the budget: each is admitted only after the one before it has been counted, and
    // later writes queue behind, so order holds and a burst of writes cannot all slip through one wake-up.
    this.waiting += 1;
    const previous = this.turn ?? Promise.resolve();
    let done: () => void = () => {};
    const turn = new Promise<void>((resolve) => (done = resolve));
    this.turn = turn;
    const settle = (): void => {
      done();
      // The last frame through: an idle writer holds no settled promise.
      if (this.turn === turn) this.turn = undefined;
    };
    return previous
      .then(() => budget.whenWritable(this.owner))
      .then(
        () => {
          this.waiting -= 1;
          const written = this.writeNow(dialect, event);
          settle();
          return written;
        },
        (err: unknown) => {
          this.waiting -= 1;
          settle();
          throw err;
        },
      );
  }

  private writeNow(dialect: Dialect, event: GatewayEvent): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new GatewaySessionClosedError());
    let data: Buffer;
    try {
      data = encodeToBuffer(dialect, event);
    } catch (err) {
      return Promise.reject(new RelayError('INTERNAL', `event ${event.type} could not be encoded`, {}, { cause: err }));
    }
    const bytes = data.length;
    const buffered = this.ws.bufferedAmount;
    // An empty buffer always takes one frame, so a single large media frame is never refused outright.
    const { maxBufferedBytes, logger, observer, budget } = this.context;
    if (buffered > 0 && buffered + bytes > maxBufferedBytes) {
      logger.warn({ sessionId: this.owner, bufferedBytes: buffered, eventType: event.type }, 'gateway is not reading; closing its socket');
      observer.slowClosed('buffer_full');
      closeSocket(this.ws, ERROR_CATALOG.SEND_BUFFER_FULL.closeCode, ERROR_CATALOG.SEND_BUFFER_FULL.message);
      return Promise.reject(new RelayError('SEND_BUFFER_FULL'));
    }
    // Counted until ws hands the bytes to the kernel (or fails), which is when its copy is freed.
    const charge = budget.isRegistered(this.owner) ? budget.chargeSocket(this.owner, bytes) : undefined;
    return new Promise((resolve, reject) => {
      this.ws.send(data, { binary: false }, (err) => {
        charge?.release();
        if (err) {
          reject(new GatewaySessionClosedError('gateway socket closed before the event was written', { cause: err }));
          return;
        }
        observer.framesOut(event.type);
        resolve();
      });
    });
  }
}

/**
 * The frame as the bytes ws writes as they are (no copy of its own). The JSON string lives only in here, so a frame
 * waiting in a slow socket's buffer holds one copy, the one the send budget counts, not two.
 */
function encodeToBuffer(dialect: Dialect, event: GatewayEvent): Buffer {
  return Buffer.from(encodeGatewayEvent(dialect, event), 'utf8');
}

/** The facts a session is opened with. */
export interface SocketSessionInit {
  gatewayId: string;
  dialect: Dialect;
  delivery: DeliveryMode;
  resumeAfter: string | undefined;
  features: readonly GatewayFeature[];
  remoteAddress: string;
  openedAt: number;
  sessionId: string;
}

/** GatewaySession over one ws socket. */
export class SocketSession implements GatewaySession {
  readonly gatewayId: string;
  readonly dialect: Dialect;
  readonly delivery: DeliveryMode;
  readonly resumeAfter: string | undefined;
  readonly features: readonly GatewayFeature[];
  readonly remoteAddress: string;
  readonly openedAt: number;
  readonly sessionId: string;

  constructor(
    init: SocketSessionInit,
    private readonly ws: WebSocket,
    private readonly writer: EventWriter,
  ) {
    this.gatewayId = init.gatewayId;
    this.dialect = init.dialect;
    this.delivery = init.delivery;
    this.resumeAfter = init.resumeAfter;
    this.features = init.features;
    this.remoteAddress = init.remoteAddress;
    this.openedAt = init.openedAt;
    this.sessionId = init.sessionId;
  }

  /** True while frames can still be written. */
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Encodes in the session's dialect and writes. */
  send(event: GatewayEvent): Promise<void> {
    return this.writer.write(this.dialect, event);
  }

  /** Starts the close handshake. */
  close(code: number, reason: string): void {
    closeSocket(this.ws, code, reason);
  }
}
