import { backoffDelay, resolveBackoff, type Backoff } from './backoff.js';
import { bytesToBase64 } from './base64.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { MemoryDeliveryStore, type DeliveryStore } from './delivery-store.js';
import { DEFAULT_ACK_DELAY_MS, EventProcessor, type Delivery } from './event-processor.js';
import type { ConnectionState, DeliveredEvent, StateChange } from './events.js';
import type { RelayGatewayEvents, RelayGatewayOptions } from './relay-gateway-options.js';
import { GatewayError, STOP_CODES, type StopReason } from './gateway-error.js';
import { PendingRequests, type BindingOffer, type ReplyResult } from './pending-requests.js';
import type {
  FetchedMedia,
  OnEventMsgType,
  SendBodies,
  SendMsgType,
  ServiceStateMove,
  ServiceStateResult,
} from './rich-commands.js';
import { TypedEmitter } from './typed-emitter.js';
import { FrameWriter, parseFrame, type IncomingFrame } from './wire.js';
import {
  WS_OPEN,
  abortSocket,
  messageText,
  observePings,
  resolveWebSocket,
  type WebSocketConstructor,
  type WebSocketLike,
} from './websocket-like.js';

export type { RelayGatewayEvents, RelayGatewayOptions } from './relay-gateway-options.js';

interface Connection {
  id: number;
  socket: WebSocketLike;
  open: boolean;
  gone: boolean;
  helloTimer: TimerHandle;
  livenessTimer: TimerHandle;
  livenessMs: number;
  /** When the socket last showed life (any frame, a ping, the open). */
  lastSeen: number;
}

/** Close code the SDK uses when it ends a socket itself (handler failed, liveness, hello timeout). */
const SDK_CLOSE_CODE = 4000;
/** Events buffered beyond the relay's ack window mean something is wrong; reconnecting beats growing. */
const MAX_QUEUED_EVENTS = 1_000;
const DEFAULT_PING_LIVENESS_MS = 75_000;
const NAMED_COMMANDS = new Set(['hello', 'create_binding', 'unbind_all']);
const MAX_REQUEST_ID_LENGTH = 256;

/**
 * A gateway connected to a wecom-relay: reconnects by itself, delivers each customer message to your handlers
 * exactly once (acknowledged delivery, resume after the last acknowledged id, repeats dropped by delivery id and
 * WeCom msgid), and answers commands with promises.
 */
export class RelayGateway extends TypedEmitter<RelayGatewayEvents> {
  readonly gatewayId: string;
  private readonly o: RelayGatewayOptions;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly writer: FrameWriter;
  private readonly WS: WebSocketConstructor;
  readonly store: DeliveryStore;
  private readonly pending: PendingRequests;
  private readonly processor: EventProcessor;
  private conn: Connection | null = null;
  private connections = 0;
  private failedAttempts = 0;
  private handlerFailures = 0;
  private reconnectTimer: TimerHandle = undefined;
  private started = false;
  private stopping = false;
  private stoppedReason: StopReason | null = null;
  private currentState: ConnectionState = 'closed';
  private firstOpen: { resolve: () => void; reject: (err: GatewayError) => void; promise: Promise<void> } | null = null;
  private closing: Promise<void> | null = null;

  constructor(options: RelayGatewayOptions) {
    super();
    if (!options.gatewayId) throw new TypeError('gatewayId is required');
    if (!options.url) throw new TypeError('url is required');
    const ackDelayMs = options.ackDelayMs ?? DEFAULT_ACK_DELAY_MS;
    if (!(ackDelayMs >= 0 && ackDelayMs <= 60_000)) throw new RangeError('ackDelayMs must be within [0, 60000]');
    this.o = options;
    this.gatewayId = options.gatewayId;
    this.clock = options.clock ?? systemClock;
    this.backoff = resolveBackoff(options.reconnect);
    this.writer = new FrameWriter(options.dialect ?? 'plain', options.gatewayId);
    this.WS = resolveWebSocket(options.WebSocket);
    this.store = options.store ?? new MemoryDeliveryStore();
    this.pending = new PendingRequests(this.clock, options.requestTimeoutMs ?? 30_000, options.maxPendingRequests ?? 1_000);
    this.processor = new EventProcessor(
      {
        gatewayId: this.gatewayId,
        store: this.store,
        clock: this.clock,
        ackDelayMs,
        sendAck: (id) => this.transmit(this.writer.deliveryAck(id)),
        runHandlers: (event, delivery) => this.runHandlers(event, delivery),
        onFailure: (err, event, redeliver) => this.onHandlerFailure(err, event, redeliver),
        onHandled: () => {
          this.handlerFailures = 0;
        },
        replies: this,
      },
      MAX_QUEUED_EVENTS,
    );
  }

  /** The connection's current state. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** Why the gateway stopped, once it has. */
  get stopReason(): StopReason | null {
    return this.stoppedReason;
  }

  /** Redeliveries dropped because the store had seen them. */
  get duplicatesDropped(): number {
    return this.processor.duplicatesDropped;
  }

  /**
   * Starts connecting (and reconnecting whenever the connection is lost). Resolves when the relay first accepts
   * the gateway; rejects if the gateway stops first (e.g. 4003: the relay refused the token).
   */
  start(): Promise<void> {
    if (this.stoppedReason) return Promise.reject(new GatewayError('CLOSED', 'the gateway is closed'));
    if (!this.firstOpen) {
      let resolve!: () => void;
      let reject!: (err: GatewayError) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.firstOpen = { resolve, reject, promise };
    }
    if (!this.started) {
      this.started = true;
      void this.connect();
    }
    return this.firstOpen.promise;
  }

  /**
   * Sends a text reply to a WeCom user. Resolves with WeCom's msgid once the relay acknowledges it; rejects with
   * a {@link GatewayError} carrying the relay's code. Pass a stable `id` (or reply through the handler's
   * `delivery`, which derives one) so a reply sent again after a reconnect or a restart is recognised as the
   * same request.
   */
  async reply(externalUserId: string, content: string, options: { id?: string } = {}): Promise<ReplyResult> {
    const id = this.requestId(options.id);
    return this.replyResult(id, this.writer.reply(id, externalUserId, content));
  }

  /** Sends an image (bytes or base64) to a WeCom user; answered like {@link reply}. */
  async imageReply(
    externalUserId: string,
    image: Uint8Array | string,
    mime: string,
    options: { id?: string } = {},
  ): Promise<ReplyResult> {
    const id = this.requestId(options.id);
    const base64 = typeof image === 'string' ? image : bytesToBase64(image);
    return this.replyResult(id, this.writer.imageReply(id, externalUserId, base64, mime));
  }

  /**
   * `rich_outbound`: sends one message of any kind kf/send_msg takes (media as bytes or base64 in the body). Answered
   * like {@link reply}; the relay checks WeCom's limits first and names the one a body breaks.
   */
  async send<T extends SendMsgType>(externalUserId: string, msgtype: T, body: SendBodies[T], options: { id?: string } = {}): Promise<ReplyResult> {
    const id = this.requestId(options.id);
    return this.replyResult(id, this.writer.send(id, externalUserId, msgtype, body));
  }

  /**
   * `rich_outbound`: a text or menu sent with an event's code: the `welcomeCode` of `session_entered` (20 s, once)
   * or a `msgCode` of `session_status` or {@link serviceState}.
   */
  async sendOnEvent<T extends OnEventMsgType>(
    externalUserId: string,
    code: string,
    msgtype: T,
    body: SendBodies[T],
    options: { id?: string } = {},
  ): Promise<ReplyResult> {
    const id = this.requestId(options.id);
    return this.replyResult(id, this.writer.sendOnEvent(id, externalUserId, code, msgtype, body));
  }

  /** `rich_outbound`: withdraws a message this gateway sent, by WeCom's msgid (WeCom allows it shortly after sending). */
  async recall(msgid: string, options: { id?: string } = {}): Promise<void> {
    const id = this.requestId(options.id);
    await this.request(`r:${id}`, this.writer.recall(id, msgid), true);
  }

  /**
   * `rich_outbound`: reads the customer's session state, or moves it first (3 with a servicer hands the customer to
   * a human, 1 takes them back); resolves with the state after.
   */
  async serviceState(externalUserId: string, move?: ServiceStateMove, options: { id?: string } = {}): Promise<ServiceStateResult> {
    const id = this.requestId(options.id);
    const answer = await this.request(`r:${id}`, this.writer.serviceState(id, externalUserId, move), true);
    const result: ServiceStateResult = { id, serviceState: -1 };
    if (answer.kind === 'ack') {
      if (answer.serviceState !== undefined) result.serviceState = answer.serviceState;
      if (answer.servicerUserId !== undefined) result.servicerUserId = answer.servicerUserId;
      if (answer.msgCode !== undefined) result.msgCode = answer.msgCode;
    }
    return result;
  }

  /**
   * `media_by_reference`: fetches an inbound message's `mediaUrl`; the body streams as it is read. Rejects with the
   * relay's code (MEDIA_LINK_EXPIRED, MEDIA_LINK_INVALID, MEDIA_REFUSED_BY_WECOM, MEDIA_LINK_BUSY, WECOM_UNAVAILABLE).
   */
  async fetchMedia(source: { mediaUrl?: string } | string, options: { signal?: AbortSignal } = {}): Promise<FetchedMedia> {
    const url = typeof source === 'string' ? source : source.mediaUrl;
    if (!url) throw new GatewayError('INVALID_ARGUMENT', 'the message carries no mediaUrl');
    const res = await fetch(url, options.signal ? { signal: options.signal } : {});
    if (res.status !== 200 || !res.body) {
      const body = (await res.json().catch(() => ({}))) as { code?: unknown; message?: unknown; wecom_errcode?: unknown };
      const code = typeof body.code === 'string' ? body.code : 'RELAY_ERROR';
      const message = typeof body.message === 'string' ? body.message : `media link answered HTTP ${res.status}`;
      throw new GatewayError(code, message, typeof body.wecom_errcode === 'number' ? { wecomErrcode: body.wecom_errcode } : {});
    }
    const length = Number(res.headers.get('content-length'));
    return {
      mime: (res.headers.get('content-type') ?? 'application/octet-stream').split(';')[0]!.trim(),
      size: res.headers.has('content-length') && Number.isSafeInteger(length) ? length : null,
      disposition: res.headers.get('content-disposition'),
      body: res.body,
    };
  }

  /** Asks for a binding link (show it as a QR code); the WeCom user who scans it is bound to this gateway. */
  async createBinding(): Promise<BindingOffer> {
    const answer = await this.request('create_binding', this.writer.createBinding(), false);
    if (answer.kind !== 'create_binding_ack') throw new GatewayError('RELAY_ERROR', 'unexpected answer to create_binding');
    return { token: answer.token, customerServiceUrl: answer.customerServiceUrl };
  }

  /** Removes every binding of this gateway (their WeCom sessions end). */
  async unbindAll(): Promise<void> {
    await this.request('unbind_all', this.writer.unbindAll(), true);
  }

  /**
   * Stops gracefully: no reconnect, no new event is started, the running handler finishes and is acknowledged,
   * requests still waiting get their answer (bounded by `drainTimeoutMs`), then the socket closes. Events the
   * relay had sent but the handlers had not started stay unacknowledged and come again on the next start.
   */
  close(): Promise<void> {
    this.closing ??= this.drainAndClose();
    return this.closing;
  }

  private async drainAndClose(): Promise<void> {
    if (this.stoppedReason) return;
    this.stopping = true;
    this.clock.clearTimeout(this.reconnectTimer);
    this.processor.discardQueued();
    const drainMs = this.o.drainTimeoutMs ?? 10_000;
    let timer: TimerHandle;
    const deadline = new Promise<void>((resolve) => {
      timer = this.clock.setTimeout(resolve, drainMs);
    });
    const connected = this.conn?.open === true;
    await Promise.race([
      Promise.all([this.processor.idle(), connected ? this.pending.settled() : Promise.resolve()]),
      deadline,
    ]);
    this.clock.clearTimeout(timer);
    const conn = this.conn;
    if (conn && !conn.gone) {
      // What the handlers finished is acknowledged on the way out, not seen again on the next start.
      this.processor.flushAck();
      try {
        conn.socket.close(1000, 'gateway closing');
      } catch {
        // Already closing: nothing more to do.
      }
      this.forget(conn);
    }
    this.stop({ kind: 'closed', code: 1000, reason: 'closed by the application' });
  }

  private async replyResult(id: string, frame: string): Promise<ReplyResult> {
    const answer = await this.request(`r:${id}`, frame, true);
    const result: ReplyResult = { id };
    if (answer.kind === 'ack') {
      if (answer.msgid !== undefined) result.msgid = answer.msgid;
      if (answer.parts !== undefined) result.parts = answer.parts;
    }
    return result;
  }

  private request(key: string, frame: string, idempotent: boolean) {
    if (this.stoppedReason || this.stopping) {
      return Promise.reject(new GatewayError('CLOSED', 'the gateway is closed'));
    }
    const { promise, isNew } = this.pending.add(key, frame, idempotent);
    if (isNew && this.conn?.open) this.transmit(frame);
    return promise;
  }

  private requestId(given: string | undefined): string {
    if (given === undefined) {
      const c = (globalThis as unknown as { crypto?: { randomUUID?: () => string } }).crypto;
      return c?.randomUUID?.() ?? `${this.clock.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    }
    if (given === '' || given.length > MAX_REQUEST_ID_LENGTH || NAMED_COMMANDS.has(given)) {
      throw new GatewayError('INVALID_ARGUMENT', `a request id must be 1-${MAX_REQUEST_ID_LENGTH} characters and not a command name`);
    }
    return given;
  }

  private setState(change: StateChange): void {
    this.currentState = change.state;
    this.emitDetached('state', () => undefined, change);
  }

  private async connect(): Promise<void> {
    this.reconnectTimer = undefined;
    if (this.stoppedReason || this.stopping) return;
    this.setState({ state: 'connecting' });
    let token: string;
    let resumeAfter: string | undefined;
    try {
      token = typeof this.o.authToken === 'function' ? await this.o.authToken() : this.o.authToken;
      resumeAfter = await this.store.lastAcked(this.gatewayId);
    } catch (err) {
      this.scheduleReconnect(SDK_CLOSE_CODE, `could not prepare hello: ${String(err)}`);
      return;
    }
    if (this.stoppedReason || this.stopping) return;
    let socket: WebSocketLike;
    try {
      socket = new this.WS(this.o.url);
    } catch (err) {
      this.scheduleReconnect(1006, `cannot open a WebSocket: ${String(err)}`);
      return;
    }
    this.connections += 1;
    const conn: Connection = {
      id: this.connections,
      socket,
      open: false,
      gone: false,
      helloTimer: undefined,
      livenessTimer: undefined,
      livenessMs: 0,
      lastSeen: 0,
    };
    this.conn = conn;
    conn.helloTimer = this.clock.setTimeout(
      () => this.abandon(conn, 'no hello acknowledgement in time'),
      this.o.helloTimeoutMs ?? 15_000,
    );
    const pingsVisible = observePings(socket, () => this.touch(conn));
    conn.livenessMs = this.o.livenessTimeoutMs ?? (pingsVisible ? DEFAULT_PING_LIVENESS_MS : 0);
    socket.addEventListener('open', () => {
      if (conn !== this.conn || conn.gone) return;
      this.touch(conn);
      socket.send(this.writer.hello(token, resumeAfter, this.o.features ?? ['send_failed']));
    });
    socket.addEventListener('message', (event) => {
      if (conn !== this.conn || conn.gone) return;
      this.touch(conn);
      const text = messageText(event.data);
      this.onFrame(conn, text === null ? { kind: 'invalid', text: '(binary frame)' } : parseFrame(text));
    });
    socket.addEventListener('close', (event) => this.onGone(conn, event.code, event.reason));
    // An error is always followed by close, which is where it is handled.
    socket.addEventListener('error', () => undefined);
  }

  private onFrame(conn: Connection, frame: IncomingFrame): void {
    switch (frame.kind) {
      case 'ack':
        if (frame.id === 'hello') this.onOpen(conn);
        else if (frame.id === 'unbind_all') this.pending.resolve('unbind_all', frame);
        else this.pending.resolve(`r:${frame.id}`, frame);
        return;
      case 'create_binding_ack':
        this.pending.resolve('create_binding', frame);
        return;
      case 'error': {
        const { id } = frame.error;
        const key = id === undefined ? undefined : NAMED_COMMANDS.has(id) ? id : `r:${id}`;
        if (key === undefined || !this.pending.reject(key, frame.error)) {
          this.emitDetached('error', () => undefined, frame.error);
        }
        return;
      }
      case 'event':
        if (this.stopping) return;
        if (!this.processor.push(frame.event)) this.abandon(conn, 'too many unprocessed events');
        return;
      case 'binding_cleared':
        this.emitDetached('binding_cleared', () => undefined, frame.event);
        return;
      case 'unknown':
      case 'invalid':
        // Newer relays may send frames this SDK does not know; an old SDK must ignore them, not fail.
        return;
    }
  }

  private onOpen(conn: Connection): void {
    if (conn.open) return;
    conn.open = true;
    this.clock.clearTimeout(conn.helloTimer);
    this.failedAttempts = 0;
    this.setState({ state: 'open' });
    // Requests that were waiting (or lost with the last socket) go out again with the same ids.
    for (const frame of this.pending.frames()) this.transmit(frame);
    this.firstOpen?.resolve();
  }

  private touch(conn: Connection): void {
    if (conn.livenessMs <= 0 || conn.gone) return;
    conn.lastSeen = this.clock.now();
    // One timer per socket, armed once and moved only when it fires: a frame or ping then costs a clock read,
    // not a timer replaced, which keeps thousands of sockets in one process cheap.
    if (conn.livenessTimer === undefined) this.armLiveness(conn, conn.livenessMs);
  }

  private armLiveness(conn: Connection, ms: number): void {
    conn.livenessTimer = this.clock.setTimeout(() => {
      conn.livenessTimer = undefined;
      if (conn.gone) return;
      const quietMs = this.clock.now() - conn.lastSeen;
      if (quietMs >= conn.livenessMs) this.abandon(conn, `nothing received for ${conn.livenessMs} ms`);
      else this.armLiveness(conn, conn.livenessMs - quietMs);
    }, ms);
  }

  /** Ends a socket from this side (dead, stuck or behind a failed handler) and reconnects. */
  private abandon(conn: Connection, reason: string): void {
    if (conn.gone) return;
    abortSocket(conn.socket, SDK_CLOSE_CODE, reason);
    this.onGone(conn, SDK_CLOSE_CODE, reason);
  }

  private forget(conn: Connection): void {
    conn.gone = true;
    conn.open = false;
    this.clock.clearTimeout(conn.helloTimer);
    this.clock.clearTimeout(conn.livenessTimer);
    if (this.conn === conn) this.conn = null;
    // Not yet started events are sent again by the relay on the next socket, after the last acknowledged one.
    this.processor.socketLost();
  }

  private onGone(conn: Connection, code: number, reason: string): void {
    if (conn.gone) return;
    this.forget(conn);
    if (this.stopping || this.stoppedReason) return;
    const kind = STOP_CODES[code];
    if (kind) {
      this.stop({ kind, code, reason });
      return;
    }
    this.scheduleReconnect(code, reason);
  }

  private scheduleReconnect(code: number, reason: string): void {
    if (this.stopping || this.stoppedReason) return;
    const attempt = Math.max(this.failedAttempts, this.handlerFailures);
    this.failedAttempts += 1;
    const delayMs = backoffDelay(this.backoff, attempt, this.clock.random());
    this.setState({ state: 'reconnecting', delayMs, code, reason });
    this.reconnectTimer = this.clock.setTimeout(() => void this.connect(), delayMs);
  }

  private stop(reason: StopReason): void {
    if (this.stoppedReason) return;
    this.stoppedReason = reason;
    this.clock.clearTimeout(this.reconnectTimer);
    if (this.conn) {
      abortSocket(this.conn.socket, 1000, reason.reason);
      this.forget(this.conn);
    }
    this.pending.failAll(new GatewayError('CLOSED', `the gateway stopped (${reason.kind}, ${reason.code} ${reason.reason})`));
    this.setState({ state: 'closed', code: reason.code, reason: reason.reason });
    this.firstOpen?.reject(new GatewayError(reason.kind === 'closed' ? 'CLOSED' : reason.kind, `the gateway stopped: ${reason.kind}`));
    this.firstOpen?.promise.catch(() => undefined);
    this.emitDetached('stopped', () => undefined, reason);
  }

  private transmit(frame: string): void {
    const conn = this.conn;
    if (!conn?.open || conn.socket.readyState !== WS_OPEN) return;
    try {
      conn.socket.send(frame);
    } catch {
      // The socket is closing; its close event reconnects, and waiting requests are sent again then.
    }
  }

  private runHandlers(event: DeliveredEvent, delivery: Delivery): Promise<void> {
    switch (event.type) {
      case 'inbound':
        return this.emitAndWait('inbound', event, delivery);
      case 'binding_resolved':
        return this.emitAndWait('binding_resolved', event, delivery);
      case 'send_failed':
        return this.emitAndWait('send_failed', event, delivery);
      case 'servicer_message':
        return this.emitAndWait('servicer_message', event, delivery);
      case 'session_entered':
        return this.emitAndWait('session_entered', event, delivery);
      case 'session_status':
        return this.emitAndWait('session_status', event, delivery);
      case 'message_recalled':
        return this.emitAndWait('message_recalled', event, delivery);
      case 'customer_rejected':
        return this.emitAndWait('customer_rejected', event, delivery);
    }
  }

  private onHandlerFailure(err: unknown, event: DeliveredEvent, redeliver: boolean): void {
    this.emitDetached('handler_error', () => undefined, err, event, redeliver);
    if (!redeliver) return;
    this.handlerFailures += 1;
    // The relay sends again only on a new socket (from after the last acknowledged event), so the way to get
    // the event back is to reconnect, after the backoff, which grows while the same handler keeps failing.
    if (this.conn) this.abandon(this.conn, 'a handler failed; the event will be delivered again');
  }
}
