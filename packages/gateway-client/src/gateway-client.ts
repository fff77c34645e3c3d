import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { GatewayClientError } from './gateway-client-error.js';
import { PendingRequests } from './pending-requests.js';
import {
  baseType,
  createBindingFrame,
  deliveryAckFrame,
  helloAckId,
  helloFrame,
  imageReplyFrame,
  normalizeInbound,
  replyFrame,
  resolvedUser,
  unbindAckId,
  unbindAllFrame,
  type InboundMessage,
  type WireDelivery,
  type WireDialect,
  type WireFrame,
} from './wire-frames.js';
import {
  fetchMediaLink,
  recallFrame,
  sendFrame,
  sendOnEventFrame,
  serviceStateFrame,
  type FetchedMedia,
  type OnEventMsgType,
  type SendBodies,
  type SendMsgType,
  type ServiceStateMove,
} from './rich-frames.js';
import { normalizeCustomerRejected, type CustomerRejected } from './session-frames.js';

/** How to reach a relay and who to be there. */
export interface GatewayClientOptions {
  /** The relay node's WebSocket URL. */
  url: string;
  gatewayId: string;
  authToken: string;
  dialect: WireDialect;
  /** `ack` asks for acknowledged (at-least-once) delivery; default `legacy`, which sends no delivery fields. */
  delivery?: WireDelivery;
  /** With `ack` delivery: resume after this delivery id. */
  resumeAfter?: string;
  /** With `ack` delivery: confirm every delivery as it arrives (default true). */
  autoAck?: boolean;
  /** How long connect, requests and close wait for the relay (default 10 s). */
  timeoutMs?: number;
  /** Optional events to ask for in hello, e.g. `send_failed`; none by default, like a deployed gateway. */
  features?: readonly string[];
  /** Called with every frame as it arrives (benchmarks time them here). */
  onFrame?: (frame: WireFrame) => void;
}

/** How a socket ended. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** The relay's answer to create_binding. */
export interface BindingOffer {
  token: string;
  customerServiceUrl: string;
  frame: WireFrame;
}

interface Waiter {
  predicate: (frame: WireFrame) => boolean;
  resolve: (frame: WireFrame) => void;
  timer: NodeJS.Timeout;
}

const INVALID_FRAME_TYPE = '__invalid__';

/** Parses a text frame; anything that is not a JSON object with a string type is kept as `{type: '__invalid__', raw}`. */
function parseFrame(text: string): WireFrame {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      const record = parsed as Record<string, unknown>;
      if (typeof record.type === 'string') return record as WireFrame;
    }
  } catch {
    // Falls through: a relay sending non-JSON is itself worth seeing in `received`.
  }
  return { type: INVALID_FRAME_TYPE, raw: text };
}

function describeRecent(frames: readonly WireFrame[]): string {
  const recent = frames.slice(-5).map((f) => JSON.stringify(f).slice(0, 200));
  return recent.length === 0 ? 'no frames received' : `last frames: ${recent.join(' | ')}`;
}

/**
 * A real gateway over WebSocket, speaking either wire dialect. It records every frame the relay sends, answers
 * requests by id, and in `ack` mode confirms deliveries and leaves redelivered duplicates out of `inbound()` and
 * `resolvedBindings()` (they stay in `received` and are listed in `duplicates`).
 * `connect()` may be called again after a close to reconnect; history is kept across sockets.
 */
export class GatewayClient {
  /** Every frame received, raw and in order, across reconnects. */
  readonly received: WireFrame[] = [];
  /** Ack mode: redelivered frames whose delivery_id was already seen, dropped from the normalized views. */
  readonly duplicates: WireFrame[] = [];
  readonly gatewayId: string;
  readonly dialect: WireDialect;

  private readonly options: Required<Omit<GatewayClientOptions, 'resumeAfter' | 'onFrame'>> &
    Pick<GatewayClientOptions, 'resumeAfter' | 'onFrame'>;
  private socket: WebSocket | null = null;
  private authenticated = false;
  private closedPromise: Promise<CloseInfo>;
  private resolveClosed: (info: CloseInfo) => void = () => undefined;
  private readonly pending: PendingRequests;
  private readonly waiters = new Set<Waiter>();
  private readonly seenDeliveries = new Set<string>();
  private idCounter = 0;
  private readonly idSalt = randomBytes(3).toString('hex');

  constructor(options: GatewayClientOptions) {
    this.options = {
      delivery: 'legacy',
      autoAck: true,
      timeoutMs: 10_000,
      features: [],
      ...options,
    };
    this.gatewayId = options.gatewayId;
    this.dialect = options.dialect;
    this.closedPromise = this.newClosedPromise();
    this.pending = new PendingRequests(this.dialect, this.options.timeoutMs, () => describeRecent(this.received));
  }

  /** Resolves when the current (or next) socket closes, with the close code and reason the client saw. */
  get closed(): Promise<CloseInfo> {
    return this.closedPromise;
  }

  /** True between the hello ack and the socket's close. */
  get isConnected(): boolean {
    return this.authenticated && this.socket?.readyState === WebSocket.OPEN;
  }

  /** Opens the socket, sends hello, and resolves once the relay acknowledges it. */
  async connect(): Promise<void> {
    if (this.socket && this.socket.readyState !== WebSocket.CLOSED) {
      throw new GatewayClientError('ALREADY_OPEN', 'connect() called while a socket is still open');
    }
    const socket = await this.openSocket();
    const { gatewayId, authToken, delivery, resumeAfter, features } = this.options;
    const ack = this.pending.expect(helloAckId(this.dialect));
    this.write(socket, helloFrame(this.dialect, gatewayId, authToken, delivery, resumeAfter, features));
    try {
      await ack;
    } catch (err) {
      // A hello that was never acknowledged leaves no half-authenticated socket behind.
      socket.terminate();
      throw err;
    }
    this.authenticated = true;
  }

  /** Opens the socket without sending hello, for tests of what the relay does before or instead of one. */
  async open(): Promise<void> {
    if (this.socket && this.socket.readyState !== WebSocket.CLOSED) {
      throw new GatewayClientError('ALREADY_OPEN', 'open() called while a socket is still open');
    }
    await this.openSocket();
  }

  /** Sends a text reply; resolves with the relay's ack carrying the id, rejects with its error frame. */
  reply(externalUserId: string, content: string, id: string = this.nextId('reply')): Promise<WireFrame> {
    return this.request(id, replyFrame(this.dialect, id, externalUserId, content));
  }

  /** Sends an image reply (bytes or base64); answered like `reply`. */
  imageReply(
    externalUserId: string,
    image: Buffer | string,
    mime: string,
    id: string = this.nextId('img'),
  ): Promise<WireFrame> {
    const base64 = typeof image === 'string' ? image : image.toString('base64');
    return this.request(id, imageReplyFrame(this.dialect, id, externalUserId, base64, mime));
  }

  /** `rich_outbound`: sends one message of any kind; resolves with the ack (`msgid`), rejects with the relay's error. */
  send<T extends SendMsgType>(externalUserId: string, msgtype: T, body: SendBodies[T], id: string = this.nextId('send')): Promise<WireFrame> {
    return this.request(id, sendFrame(this.dialect, id, externalUserId, msgtype, body));
  }

  /**
   * `rich_outbound`: a welcome (the `welcome_code` of `session_entered`) or other event message (a `msg_code`), text
   * or menu; the code works once, within WeCom's time for it.
   */
  sendOnEvent<T extends OnEventMsgType>(
    externalUserId: string,
    code: string,
    msgtype: T,
    body: SendBodies[T],
    id: string = this.nextId('event'),
  ): Promise<WireFrame> {
    return this.request(id, sendOnEventFrame(this.dialect, id, externalUserId, code, msgtype, body));
  }

  /** `rich_outbound`: withdraws a message this gateway sent (WeCom's msgid from its ack). */
  recall(msgid: string, id: string = this.nextId('recall')): Promise<WireFrame> {
    return this.request(id, recallFrame(this.dialect, id, msgid));
  }

  /** `rich_outbound`: reads the customer's session state, or moves it first; the ack says the state after. */
  serviceState(externalUserId: string, move?: ServiceStateMove, id: string = this.nextId('state')): Promise<WireFrame> {
    return this.request(id, serviceStateFrame(this.dialect, id, externalUserId, move));
  }

  /**
   * `media_by_reference`: fetches a frame's `media_url` (or a URL given as is); the body streams as it is read.
   * Rejects with the relay's code (MEDIA_LINK_EXPIRED, MEDIA_LINK_INVALID, MEDIA_REFUSED_BY_WECOM, MEDIA_LINK_BUSY)
   * when refused. The timeout bounds the whole transfer.
   */
  async fetchMedia(source: WireFrame | string, timeoutMs: number = this.options.timeoutMs): Promise<FetchedMedia> {
    const url = typeof source === 'string' ? source : source.media_url;
    if (typeof url !== 'string') throw new GatewayClientError('RELAY_ERROR', 'the frame carries no media_url');
    const got = await fetchMediaLink(url, timeoutMs);
    if ('body' in got) return got;
    // The refusal reads like an error frame, so `code` is the relay's and `frame.wecom_errcode` WeCom's.
    const frame: WireFrame = { type: 'error', code: got.code, message: got.message, status: got.status };
    if (got.wecomErrcode !== undefined) frame.wecom_errcode = got.wecomErrcode;
    throw new GatewayClientError('RELAY_ERROR', `media link refused (HTTP ${got.status}): ${got.message}`, { frame });
  }

  /** Asks for a binding QR link; resolves with the token and url of the next create_binding_ack. */
  async createBinding(options: { openKfid?: string } = {}): Promise<BindingOffer> {
    const socket = this.requireSocket();
    const answer = this.pending.expectBinding();
    this.write(socket, createBindingFrame(this.dialect, this.gatewayId, options.openKfid));
    const frame = await answer;
    return {
      token: String(frame.token ?? ''),
      customerServiceUrl: String(frame.customer_service_url ?? ''),
      frame,
    };
  }

  /** Removes every binding of this gateway; resolves with the relay's ack. */
  unbindAll(): Promise<WireFrame> {
    const socket = this.requireSocket();
    const answer = this.pending.expect(unbindAckId(this.dialect));
    this.write(socket, unbindAllFrame(this.dialect, this.gatewayId));
    return answer;
  }

  /** Confirms a delivery by hand (for `autoAck: false`). */
  ackDelivery(deliveryId: string): void {
    this.write(this.requireSocket(), deliveryAckFrame(this.dialect, deliveryId));
  }

  /** Sends a JSON frame as-is. */
  sendFrame(frame: Record<string, unknown>): void {
    this.write(this.requireSocket(), frame);
  }

  /** Sends raw data: a string as a text frame, a Buffer as a binary frame. */
  sendRaw(data: string | Buffer): void {
    this.requireSocket().send(data, { binary: typeof data !== 'string' });
  }

  /** Stops reading the socket, like a gateway whose host stalled (tests of slow gateways); frames pile up at the relay. */
  pauseReading(): void {
    this.requireSocket().pause();
  }

  /** Reads the socket again after pauseReading(). */
  resumeReading(): void {
    this.socket?.resume();
  }

  /** The first received frame (from `fromIndex` on) matching the predicate, waiting for it if needed. */
  waitFor(
    predicate: (frame: WireFrame) => boolean,
    timeoutMs: number = this.options.timeoutMs,
    fromIndex = 0,
  ): Promise<WireFrame> {
    const found = this.received.slice(fromIndex).find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<WireFrame>((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new GatewayClientError('TIMEOUT', `no matching frame within ${timeoutMs} ms; ${describeRecent(this.received)}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Waits for an inbound customer message matching the predicate, normalized. */
  async waitForInbound(
    predicate: (message: InboundMessage) => boolean = () => true,
    timeoutMs: number = this.options.timeoutMs,
  ): Promise<InboundMessage> {
    const frame = await this.waitFor(
      (f) => baseType(f.type) === 'inbound' && !this.duplicates.includes(f) && predicate(normalizeInbound(f)),
      timeoutMs,
    );
    return normalizeInbound(frame);
  }

  /** Every inbound frame received so far (ack-mode redeliveries once), normalized across dialects. */
  inbound(): InboundMessage[] {
    return this.fresh('inbound').map(normalizeInbound);
  }

  /** Every customer_rejected frame received so far (ack-mode redeliveries once), normalized across dialects. */
  customerRejections(): CustomerRejected[] {
    return this.fresh('customer_rejected').map(normalizeCustomerRejected);
  }

  /** The WeCom users named by every binding_resolved frame received so far (ack-mode redeliveries once), in order. */
  resolvedBindings(): string[] {
    return this.fresh('binding_resolved').map(resolvedUser);
  }

  private fresh(kind: string): WireFrame[] {
    const duplicates = new Set(this.duplicates);
    return this.received.filter((f) => baseType(f.type) === kind && !duplicates.has(f));
  }

  /** Closes the socket politely and resolves with how it closed. */
  async close(code = 1000, reason = 'client closing'): Promise<CloseInfo> {
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return this.closedPromise;
    const forceTimer = setTimeout(() => socket.terminate(), this.options.timeoutMs);
    socket.close(code, reason);
    try {
      return await this.closedPromise;
    } finally {
      clearTimeout(forceTimer);
    }
  }

  /** Drops the TCP connection without a close handshake, as a crashed gateway would. */
  async terminate(): Promise<CloseInfo> {
    this.socket?.terminate();
    return this.closedPromise;
  }

  private newClosedPromise(): Promise<CloseInfo> {
    return new Promise<CloseInfo>((resolve) => {
      this.resolveClosed = resolve;
    });
  }

  private openSocket(): Promise<WebSocket> {
    if (this.socket) this.closedPromise = this.newClosedPromise();
    const socket = new WebSocket(this.options.url);
    this.socket = socket;
    const resolveClosed = this.resolveClosed;
    socket.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    socket.on('close', (code, reason) => {
      this.authenticated = false;
      resolveClosed({ code, reason: reason.toString('utf8') });
      this.pending.failAll(
        new GatewayClientError('CLOSED', `socket closed (${code} ${reason.toString('utf8')})`, { closeCode: code }),
      );
    });
    return new Promise<WebSocket>((resolve, reject) => {
      const onOpen = (): void => {
        socket.off('error', onError);
        // Later socket errors surface as a close; the listener only keeps them from being unhandled.
        socket.on('error', () => undefined);
        resolve(socket);
      };
      const onError = (err: Error): void => {
        socket.off('open', onOpen);
        socket.on('error', () => undefined);
        reject(new GatewayClientError('CONNECT_FAILED', `cannot connect to ${this.options.url}: ${err.message}`, {}, { cause: err }));
      };
      socket.once('open', onOpen);
      socket.once('error', onError);
    });
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    const text = Buffer.isBuffer(data)
      ? data.toString('utf8')
      : Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data).toString('utf8');
    const frame = isBinary ? { type: INVALID_FRAME_TYPE, raw: text, binary: true } : parseFrame(text);

    if (this.options.delivery === 'ack' && typeof frame.delivery_id === 'string') {
      const deliveryId = frame.delivery_id;
      // A redelivery means the relay may not have seen our ack, so confirm again even when dropping it.
      if (this.options.autoAck && this.socket) this.write(this.socket, deliveryAckFrame(this.dialect, deliveryId));
      if (this.seenDeliveries.has(deliveryId)) this.duplicates.push(frame);
      else this.seenDeliveries.add(deliveryId);
    }

    this.received.push(frame);
    this.options.onFrame?.(frame);
    this.pending.settle(frame);
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(frame)) {
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(frame);
      }
    }
  }

  private request(id: string, frame: WireFrame): Promise<WireFrame> {
    let socket: WebSocket;
    try {
      socket = this.requireSocket();
    } catch (err) {
      return Promise.reject(err);
    }
    const answer = this.pending.expect(id);
    this.write(socket, frame);
    return answer;
  }

  private requireSocket(): WebSocket {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
      throw new GatewayClientError('NOT_CONNECTED', 'the gateway socket is not open');
    }
    return this.socket;
  }

  private write(socket: WebSocket, frame: Record<string, unknown>): void {
    socket.send(JSON.stringify(frame));
  }

  private nextId(prefix: string): string {
    this.idCounter += 1;
    return `${prefix}-${this.idSalt}-${this.idCounter}`;
  }
}
