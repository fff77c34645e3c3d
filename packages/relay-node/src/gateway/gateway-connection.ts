import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { decodeGatewayFrame, type Dialect, type ErrorEvent, type GatewayEvent, type HelloCommand } from '@wecom-relay/shared';
import { ERROR_CATALOG, type ErrorCode } from '../errors/error-catalog.js';
import { isRelayError } from '../errors/relay-error.js';
import { errorEvent, requestIdOf } from './command-answers.js';
import type { AcceptedSocket, ConnectionHost } from './connection-host.js';
import { sharedFeatureList } from './feature-lists.js';
import { peekFrame, rawDataToBuffer } from './frame-peek.js';
import type { SessionCommand } from './gateway-types.js';
import { PreAuthGuard } from './pre-auth-guard.js';
import type { RefusalReason } from './refusal-log.js';
import type { BudgetOwnerHooks } from './send-budget.js';
import { SerialTaskQueue, type SerialTaskQueueOwner } from './serial-task-queue.js';
import { isGatewaySessionClosedError } from './session-closed-error.js';
import { newSessionId } from './session-id.js';
import { dropSocket } from './socket-drop.js';
import { SocketHeartbeat, type HeartbeatOwner } from './socket-heartbeat.js';
import { EventWriter, SocketSession, closeCodeOf, closeSocket } from './socket-session.js';
import type { WheelTarget, WheelTimer } from './timer-wheel.js';

/**
 * The connection of each socket, for the listeners every socket shares: a closure per listener and socket would be
 * function objects held by every idle connection for nothing.
 */
const bySocket = new WeakMap<WebSocket, GatewayConnection>();

function onSocketMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
  bySocket.get(this)?.receive(data, isBinary);
}

function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
  bySocket.get(this)?.closed(code, reason);
}

function onSocketError(this: WebSocket, err: Error): void {
  bySocket.get(this)?.failed(err);
}

const HELLO_DEADLINE = 0;

type Phase = 'awaiting_hello' | 'authenticating' | 'open' | 'refused';

// Frames wait in the session queue while an earlier command runs; past these marks the socket stops being
// read so TCP pushes back on the gateway instead of the heap growing.
const PAUSE_AT_QUEUED_FRAMES = 64;
const RESUME_AT_QUEUED_FRAMES = 16;

const INTERNAL_ERROR_CLOSE = 1011;

/**
 * One gateway socket from accept to close: hello, authentication, serial command handling, liveness. An idle
 * session is held by thousands of these per node, so what one keeps is kept small: settings and callbacks live in
 * the shared host, listeners are shared functions, and what is only needed around the hello (the pre-auth guard,
 * the hello deadline) is dropped once the session is open.
 */
export class GatewayConnection implements WheelTarget, HeartbeatOwner, SerialTaskQueueOwner, BudgetOwnerHooks {
  /** Unique per connection; becomes the session's sessionId. */
  readonly sessionId = newSessionId();
  readonly remoteAddress: string;
  /** The key per-source limits count this socket under. */
  readonly source: string;
  private readonly host: ConnectionHost;
  private readonly ws: WebSocket;
  private readonly socket: Duplex;
  private phase: Phase = 'awaiting_hello';
  private session: SocketSession | undefined;
  private sessionOpenInvoked = false;
  private pending = true;
  private socketClosed = false;
  private isFinished = false;
  /** Resolves `finished`; made only when someone waits for it (draining or closing the server). */
  private resolveFinished: (() => void) | undefined;
  private finishedPromise: Promise<void> | undefined;
  private readonly writer: EventWriter;
  private readonly queue: SerialTaskQueue;
  private helloTimer: WheelTimer | undefined;
  private readonly heartbeat: SocketHeartbeat;
  private graceTimer: NodeJS.Timeout | undefined;
  /** Until the session opens (or the socket closes). */
  private preAuth: PreAuthGuard | undefined;
  /** Refused before a session opened: its close is routine and logged at debug, the refusal itself was logged. */
  private refusedEarly = false;

  constructor(host: ConnectionHost, accepted: AcceptedSocket) {
    this.host = host;
    this.ws = accepted.ws;
    this.socket = accepted.socket;
    this.remoteAddress = accepted.remoteAddress;
    this.source = accepted.source;
    this.writer = new EventWriter(this.ws, host.writer, this.sessionId);
    this.preAuth = new PreAuthGuard(accepted.socket, host.pendingBytes, host.limits.maxHelloBytes, (reason, fatal, bytes) =>
      this.safely('overrun', () => {
        // While the hello is decided, more than a hello's worth of bytes just waits in the kernel.
        if (!fatal) this.ws.pause();
        else this.onOverrun(reason === 'hello_too_large' ? 'hello_too_large' : 'node_byte_limit', bytes);
      }),
    );
    this.preAuth.start();
    this.queue = new SerialTaskQueue(this);

    bySocket.set(this.ws, this);
    this.ws.on('message', onSocketMessage);
    this.ws.on('close', onSocketClose);
    this.ws.on('error', onSocketError);

    this.helloTimer = host.wheel.schedule(host.limits.helloTimeoutMs, this, HELLO_DEADLINE);
    this.heartbeat = new SocketHeartbeat(this.ws, host.heartbeat, this);
  }

  /** Resolves once the socket has closed and onSessionClose (if due) has settled. */
  get finished(): Promise<void> {
    if (this.isFinished) return Promise.resolve();
    this.finishedPromise ??= new Promise((resolve) => (this.resolveFinished = resolve));
    return this.finishedPromise;
  }

  /** True between an accepted hello and the socket closing. */
  get isSessionOpen(): boolean {
    return this.phase === 'open' && !this.socketClosed;
  }

  /** The hello deadline (the wheel's only timer of a connection itself; the heartbeat has its own). */
  onWheelTimer(): void {
    this.safely('hello timeout', () => this.onHelloTimeout());
  }

  /** The heartbeat found no pong in time. */
  onHeartbeatDead(): void {
    this.logAt('info', {}, 'gateway did not answer ping; terminating');
    this.ws.terminate();
  }

  /** Something the heartbeat ran threw. */
  onHeartbeatError(err: unknown): void {
    this.logAt('error', { err }, 'gateway heartbeat failed');
  }

  /** A queued command handler threw past its own handling. */
  onTaskError(err: unknown): void {
    this.logAt('error', { err }, 'gateway task failed');
  }

  /** A queued frame started: reads may resume. */
  onTaskDequeued(): void {
    this.liftBackpressure();
  }

  /** Bytes still in the socket's write buffer, for the send budget. */
  buffered(): number {
    return this.ws.bufferedAmount;
  }

  /** The send budget found this gateway over its share without reading. */
  onStuck(): void {
    this.safely('stuck', () => this.closeSlow());
  }

  /** A frame from the socket (the shared message listener). */
  receive(data: RawData, isBinary: boolean): void {
    this.safely('message', () => this.onMessage(data, isBinary));
  }

  /** The socket closed (the shared close listener). */
  closed(code: number, reason: Buffer): void {
    // Refused sockets are cut off after their close frame, so ws would report 1006: count the code that was sent.
    this.host.observer.closed(closeCodeOf(this.ws, code));
    this.safely('close', () => this.onClose(code, reason.toString('utf8')));
  }

  /** The socket failed (the shared error listener). */
  failed(err: Error): void {
    this.host.logger.debug({ err, remoteAddress: this.remoteAddress }, 'gateway socket error');
    this.logAt('info', { err }, 'gateway socket error');
  }

  /** Closes with the code; a peer that does not finish the close handshake within graceMs is cut off. */
  shutdown(code: number, reason: string, graceMs: number): void {
    if (this.socketClosed) return;
    // An unauthenticated socket being shut down must not still become a session.
    if (this.phase !== 'open') this.phase = 'refused';
    closeSocket(this.ws, code, reason);
    if (this.graceTimer === undefined) {
      this.graceTimer = setTimeout(() => this.ws.terminate(), graceMs);
    }
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logAt('error', { err, event: what }, 'gateway socket handler failed');
    }
  }

  /** Sent more before hello than a hello can be: the guard destroys the socket, this marks it refused. */
  private onOverrun(reason: RefusalReason, bytes: number): void {
    this.phase = 'refused';
    this.refusedEarly = true;
    this.clearHelloTimer();
    this.host.onRefused(this, reason, { bytes, maxHelloBytes: this.host.limits.maxHelloBytes });
  }

  /** Ends a socket that never authenticated: close code sent, then gone at once (no handshake to wait for). */
  private refuseEarly(code: number, message: string, reason: RefusalReason | undefined): void {
    this.phase = 'refused';
    this.refusedEarly = true;
    this.clearHelloTimer();
    if (reason !== undefined) this.host.onRefused(this, reason, { closeCode: code });
    dropSocket(this.ws, this.socket, code, message);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.phase === 'refused') return;
    const frame = rawDataToBuffer(data);
    if (isBinary) {
      this.rejectFrame('FRAME_BINARY', undefined, undefined);
      return;
    }
    if (frame.length > this.host.limits.maxFrameBytes) {
      const peek = peekFrame(frame.toString('utf8'));
      this.rejectFrame('FRAME_TOO_LARGE', peek.id, peek.dialect);
      return;
    }
    const text = frame.toString('utf8');
    if (this.phase === 'awaiting_hello') {
      this.onFirstFrame(text);
      return;
    }
    this.queue.push(() => this.handleFrame(text), frame.length);
    this.applyBackpressure();
  }

  /** A frame refused before decoding: answered in order with the other frames, or ends a socket still waiting for hello. */
  private rejectFrame(code: ErrorCode, id: string | undefined, dialect: Dialect | undefined): void {
    this.host.observer.frameError(code);
    const event = errorEvent(code, ERROR_CATALOG[code].message, id);
    if (this.phase === 'awaiting_hello') {
      this.refuseFirstFrame(event, dialect);
      return;
    }
    this.queue.push(() => this.sendToSession(event));
    // Refused frames queue an answer each, so they count towards pausing reads like any other frame.
    this.applyBackpressure();
  }

  private onFirstFrame(text: string): void {
    const decoded = decodeGatewayFrame(text);
    if (!decoded.ok) {
      this.host.observer.frameError(decoded.code);
      this.refuseFirstFrame(errorEvent(decoded.code, decoded.message, decoded.requestId), decoded.dialect);
      return;
    }
    this.host.observer.framesIn(decoded.command.type);
    if (decoded.command.type !== 'hello') {
      this.refuseEarly(ERROR_CATALOG.HELLO_REQUIRED.closeCode, ERROR_CATALOG.HELLO_REQUIRED.message, 'not_hello');
      return;
    }
    this.phase = 'authenticating';
    this.clearHelloTimer();
    // Until the hello is decided the socket may send at most another hello's worth before reads pause, so a
    // refused gateway never gets a large frame in; the normal frame limit applies once the session is open.
    this.preAuth?.restartForAuthentication();
    const hello = decoded.command;
    const dialect = decoded.dialect;
    this.queue.push(() => this.runHello(hello, dialect));
  }

  /** The error is written before the close frame; ws keeps that order on the wire. */
  private refuseFirstFrame(event: ErrorEvent, dialect: Dialect | undefined): void {
    this.phase = 'refused';
    // Written synchronously (an unauthenticated socket is outside the send budget), so it precedes the close frame.
    this.writer.write(dialect ?? 'plain', event).catch((err: unknown) => this.logAt('debug', { err }, 'error frame not written'));
    this.refuseEarly(ERROR_CATALOG.HELLO_REQUIRED.closeCode, ERROR_CATALOG.HELLO_REQUIRED.message, 'not_hello');
  }

  private async runHello(hello: HelloCommand, dialect: Dialect): Promise<void> {
    const { app, budget } = this.host;
    try {
      await app.authenticate(hello);
    } catch (err) {
      this.refuseHello(err, hello.gatewayId);
      return;
    }
    // The peer may have left, or the node may be draining, while authentication ran.
    if (this.socketClosed || this.ws.readyState !== WebSocket.OPEN) return;

    this.phase = 'open';
    this.preAuth?.stop();
    this.preAuth = undefined;
    budget.register(this.sessionId, this);
    this.liftBackpressure();
    const session = new SocketSession(
      {
        gatewayId: hello.gatewayId,
        dialect,
        delivery: hello.delivery,
        resumeAfter: hello.resumeAfter,
        features: sharedFeatureList(hello.features),
        remoteAddress: this.remoteAddress,
        openedAt: this.host.now(),
        sessionId: this.sessionId,
      },
      this.ws,
      this.writer,
    );
    this.session = session;
    this.leavePending();
    this.host.onSessionOpened(this);
    this.logAt('info', { dialect, delivery: hello.delivery }, 'gateway session opened');

    try {
      await session.send({ type: 'ack', id: 'hello' });
    } catch (err) {
      this.logAt('info', { err }, 'hello ack not written; session ends before it started');
      return;
    }
    this.sessionOpenInvoked = true;
    try {
      await app.onSessionOpen(session);
    } catch (err) {
      // The gateway left while the session was being opened: nothing failed, and its next session starts afresh. (The
      // same error from some other session's write is a failure of this one's opening.)
      if (isGatewaySessionClosedError(err) && !session.isOpen) {
        this.logAt('info', { err }, 'gateway left while its session was opening');
        return;
      }
      this.logAt('error', { err }, 'session open failed; closing so the gateway reconnects');
      session.close(INTERNAL_ERROR_CLOSE, ERROR_CATALOG.INTERNAL.message);
    }
  }

  private refuseHello(err: unknown, gatewayId: string): void {
    if (isRelayError(err) && err.closeCode !== undefined) {
      this.refuseEarly(err.closeCode, err.message, 'auth_failed');
      return;
    }
    // Not a refusal but a failure (store unreachable, bug): 1011 tells the gateway to retry later.
    this.logAt('error', { err, gatewayId }, 'gateway authentication failed unexpectedly');
    this.refuseEarly(INTERNAL_ERROR_CLOSE, ERROR_CATALOG.INTERNAL.message, undefined);
  }

  /** Over its share of the node's send budget without reading: closed 4009, its undelivered events stay queued. */
  private closeSlow(): void {
    if (this.socketClosed) return;
    this.logAt('warn', { bufferedBytes: this.ws.bufferedAmount }, 'gateway is not reading and holds more than its share of the send budget; closing');
    this.host.observer.slowClosed('over_share');
    const { closeCode, message } = ERROR_CATALOG.SEND_BUFFER_FULL;
    this.shutdown(closeCode, message, this.host.limits.closeGraceMs);
  }

  private async handleFrame(text: string): Promise<void> {
    const session = this.session;
    if (session === undefined) return; // hello was refused; whatever followed it is void
    const decoded = decodeGatewayFrame(text);
    if (!decoded.ok) {
      this.host.observer.frameError(decoded.code);
      await this.sendToSession(errorEvent(decoded.code, decoded.message, decoded.requestId));
      return;
    }
    const command = decoded.command;
    this.host.observer.framesIn(command.type);
    if (command.type === 'hello') {
      await this.protocolError('HELLO_REPEATED', undefined);
      return;
    }
    if ((command.type === 'create_binding' || command.type === 'unbind_all') && command.gatewayId !== session.gatewayId) {
      await this.protocolError('GATEWAY_ID_MISMATCH', requestIdOf(command));
      return;
    }
    try {
      await this.host.app.onCommand(session, command);
    } catch (err) {
      const failure = this.commandFailure(err, command);
      if (failure) await this.sendToSession(failure);
    }
  }

  private async protocolError(code: ErrorCode, id: string | undefined): Promise<void> {
    this.host.observer.frameError(code);
    await this.sendToSession(errorEvent(code, ERROR_CATALOG[code].message, id));
  }

  private commandFailure(err: unknown, command: SessionCommand): ErrorEvent | undefined {
    const id = requestIdOf(command);
    // The answer could not be written because the gateway left: no fault of the relay's, and no one to tell.
    if (isGatewaySessionClosedError(err) && this.session?.isOpen !== true) {
      this.logAt('info', { commandType: command.type, requestId: id }, 'gateway left before its command was answered');
      return undefined;
    }
    if (isRelayError(err)) {
      this.logAt('info', { code: err.code, commandType: command.type, requestId: id }, 'gateway command refused');
      const event = errorEvent(err.code, err.message, id);
      const wecomErrcode = err.details['wecomErrcode'];
      if (typeof wecomErrcode === 'number') event.wecomErrcode = wecomErrcode;
      return event;
    }
    this.logAt('error', { err, commandType: command.type, requestId: id }, 'gateway command failed');
    return errorEvent('INTERNAL', ERROR_CATALOG.INTERNAL.message, id);
  }

  private async sendToSession(event: GatewayEvent): Promise<void> {
    if (this.session === undefined) return;
    try {
      await this.session.send(event);
    } catch (err) {
      this.logAt('debug', { err, eventType: event.type }, 'frame not written to gateway');
    }
  }

  private onHelloTimeout(): void {
    this.helloTimer = undefined;
    if (this.phase !== 'awaiting_hello') return;
    this.refuseEarly(ERROR_CATALOG.HELLO_TIMEOUT.closeCode, ERROR_CATALOG.HELLO_TIMEOUT.message, 'hello_timeout');
  }

  private applyBackpressure(): void {
    if (this.ws.isPaused) return;
    if (this.queue.length >= PAUSE_AT_QUEUED_FRAMES || this.queue.weight >= 2 * this.host.limits.maxFrameBytes) {
      this.logAt('debug', { queuedFrames: this.queue.length, queuedBytes: this.queue.weight }, 'gateway outpaces its handler; pausing reads');
      this.ws.pause();
    }
  }

  private liftBackpressure(): void {
    // Before the session opens a pause is the pre-auth byte bound's (see onFirstFrame).
    if (!this.ws.isPaused || this.phase !== 'open') return;
    if (this.queue.length <= RESUME_AT_QUEUED_FRAMES && this.queue.weight <= this.host.limits.maxFrameBytes) {
      this.ws.resume();
    }
  }

  private onClose(code: number, reason: string): void {
    this.socketClosed = true;
    this.clearHelloTimer();
    this.heartbeat.stop();
    clearTimeout(this.graceTimer);
    this.preAuth?.stop();
    this.preAuth = undefined;
    this.host.budget.unregister(this.sessionId);
    this.leavePending();
    if (this.session !== undefined) this.host.onSessionClosed(this);
    const level = this.refusedEarly ? 'debug' : 'info';
    this.logAt(level, { code, reason, wasOpen: this.session !== undefined }, 'gateway socket closed');
    const session = this.session;
    // Queued behind every command already received, so the application sees open → commands → close in order.
    this.queue.push(async () => {
      if (session === undefined || !this.sessionOpenInvoked) return;
      try {
        await this.host.app.onSessionClose(session, { code, reason });
      } catch (err) {
        this.logAt('error', { err }, 'session close handler failed');
      }
    });
    void this.queue.whenIdle().then(() => this.finish());
  }

  private finish(): void {
    this.isFinished = true;
    this.resolveFinished?.();
    this.host.onFinished(this);
  }

  private leavePending(): void {
    if (!this.pending) return;
    this.pending = false;
    this.host.onLeavePending(this);
  }

  private clearHelloTimer(): void {
    this.helloTimer?.cancel();
    this.helloTimer = undefined;
  }

  /**
   * Logs with the fields every line about this socket carries. Built per line rather than kept in a child logger:
   * lines are rare, sockets are many, and a child logger per socket is memory held for nothing while it is idle.
   */
  private logAt(level: 'debug' | 'info' | 'warn' | 'error', extra: Record<string, unknown>, message: string): void {
    const logger = this.host.logger;
    if (!logger.isLevelEnabled(level)) return;
    logger[level]({ sessionId: this.sessionId, remoteAddress: this.remoteAddress, gatewayId: this.session?.gatewayId, ...extra }, message);
  }
}
