import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from 'pino';
import { ERROR_CATALOG } from '../errors/error-catalog.js';
import { RelayError } from '../errors/relay-error.js';
import type { ConnectionHost, ConnectionLimits } from './connection-host.js';
import { GatewayConnection } from './gateway-connection.js';
import type { GatewayApp, GatewayCloseOptions, GatewayDrainOptions, GatewayServerOptions } from './gateway-types.js';
import { PendingSocketLimiter } from './pending-socket-limiter.js';
import { TRUST_NO_PROXY, clientAddress, compileProxyTrust, sourceKey, type ProxyTrust } from './client-address.js';
import { safeObserver, type SafeObserver } from './safe-observer.js';
import { PendingBytePool, PreAuthGuard } from './pre-auth-guard.js';
import { RefusalLog, type RefusalReason } from './refusal-log.js';
import { SendBudget } from './send-budget.js';
import { dropSocket } from './socket-drop.js';
import { closeCodeOf } from './socket-session.js';
import { TimerWheel } from './timer-wheel.js';

/** Defaults for every optional GatewayServerOptions field. */
export const GATEWAY_SERVER_DEFAULTS = {
  helloTimeoutMs: 5_000,
  pingIntervalMs: 30_000,
  pongTimeoutMs: 10_000,
  maxFrameBytes: 4 * 1024 * 1024,
  maxPendingSocketsPerAddress: 64,
  maxPendingSockets: 1_024,
  maxHelloBytes: 8 * 1024,
  maxPendingBytes: 4 * 1024 * 1024,
  maxBufferedBytes: 8 * 1024 * 1024,
  closeGraceMs: 5_000,
  sendBudgetBytes: 128 * 1024 * 1024,
  slowGatewayGraceMs: 10_000,
  refusalLogIntervalMs: 60_000,
} as const;

// ws itself refuses frames past this multiple of maxFrameBytes (close 1009); between the two the frame is
// read, answered with FRAME_TOO_LARGE, and the socket lives on.
const HARD_CAP_FACTOR = 2;
const GOING_AWAY = 1001;

/** The gateway-facing WebSocket listener of a relay node. */
export class GatewayServer {
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly app: GatewayApp;
  private readonly logger: Logger;
  private readonly observer: SafeObserver;
  private readonly now: () => number;
  private readonly limits: ConnectionLimits;
  private readonly closeGraceMs: number;
  private readonly pending: PendingSocketLimiter;
  private readonly pendingBytes: PendingBytePool;
  private readonly trust: ProxyTrust;
  private readonly budget: SendBudget;
  private readonly refusals: RefusalLog;
  /** Every socket's hello deadline, pings and pong deadlines, on one timer. */
  private readonly wheel: TimerWheel;
  /** What every connection shares (settings, services, and the callbacks below). */
  private readonly host: ConnectionHost;
  /** Every accepted connection until its close handling finished. */
  private readonly connections = new Set<GatewayConnection>();
  /** Connections with an open session (hello accepted, socket not closed). */
  private openSessions = 0;
  /** Sockets refused right after the upgrade, still finishing their close handshake. */
  private readonly refused = new Set<WebSocket>();
  private accepting = true;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: GatewayServerOptions) {
    this.app = options.app;
    this.logger = options.logger;
    this.observer = safeObserver(options.observer, options.logger);
    this.now = options.now ?? Date.now;
    const d = GATEWAY_SERVER_DEFAULTS;
    this.limits = {
      helloTimeoutMs: options.helloTimeoutMs ?? d.helloTimeoutMs,
      pingIntervalMs: options.pingIntervalMs ?? d.pingIntervalMs,
      pongTimeoutMs: options.pongTimeoutMs ?? d.pongTimeoutMs,
      maxFrameBytes: options.maxFrameBytes ?? d.maxFrameBytes,
      maxBufferedBytes: options.maxBufferedBytes ?? d.maxBufferedBytes,
      maxHelloBytes: options.maxHelloBytes ?? d.maxHelloBytes,
      closeGraceMs: options.closeGraceMs ?? d.closeGraceMs,
    };
    this.closeGraceMs = this.limits.closeGraceMs;
    const { helloTimeoutMs, pingIntervalMs, pongTimeoutMs } = this.limits;
    // A tenth of the shortest deadline, so each fires within 10 % of its value, and at least every second.
    const tickMs = Math.min(1_000, Math.max(5, Math.floor(Math.min(helloTimeoutMs, pingIntervalMs, pongTimeoutMs) / 10)));
    this.wheel = new TimerWheel(tickMs, (err) => this.logger.error({ err }, 'gateway timer failed'));
    this.pending = new PendingSocketLimiter(
      options.maxPendingSocketsPerAddress ?? d.maxPendingSocketsPerAddress,
      options.maxPendingSockets ?? d.maxPendingSockets,
    );
    this.pendingBytes = new PendingBytePool(options.maxPendingBytes ?? d.maxPendingBytes);
    this.trust = options.trustedProxies?.length ? compileProxyTrust(options.trustedProxies) : TRUST_NO_PROXY;
    this.budget =
      options.sendBudget ?? new SendBudget({ totalBytes: d.sendBudgetBytes, graceMs: d.slowGatewayGraceMs, now: this.now });
    this.refusals = new RefusalLog({
      logger: this.logger,
      count: (reason) => this.observer.socketRefused(reason),
      intervalMs: options.refusalLogIntervalMs ?? d.refusalLogIntervalMs,
      now: this.now,
    });

    this.host = {
      app: this.app,
      logger: this.logger,
      observer: this.observer,
      now: this.now,
      wheel: this.wheel,
      limits: this.limits,
      pendingBytes: this.pendingBytes,
      budget: this.budget,
      writer: { maxBufferedBytes: this.limits.maxBufferedBytes, logger: this.logger, observer: this.observer, budget: this.budget },
      heartbeat: { wheel: this.wheel, intervalMs: pingIntervalMs, timeoutMs: pongTimeoutMs },
      onRefused: (connection, reason, detail) => this.refusals.record(connection.source, reason, detail),
      onLeavePending: (connection) => this.pending.release(connection.source),
      onSessionOpened: () => {
        this.openSessions += 1;
        this.observer.connected(1);
      },
      onSessionClosed: () => {
        this.openSessions -= 1;
        this.observer.connected(-1);
      },
      onFinished: (connection) => this.connections.delete(connection),
    };

    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // Compression would let a small frame inflate past every limit, and costs CPU on a shared node.
      perMessageDeflate: false,
      maxPayload: this.limits.maxFrameBytes * HARD_CAP_FACTOR,
    });
    this.wss.on('error', (err) => this.logger.error({ err }, 'gateway websocket server error'));

    this.http = createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' });
      res.end('websocket upgrade required\n');
    });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (err, socket) => {
      this.logger.debug({ err }, 'gateway http client error');
      socket.destroy();
    });
  }

  /** Starts listening; resolves once the port is bound. */
  start(): Promise<void> {
    if (this.http.listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.http.once('error', onError);
      this.http.listen({ port: this.options.port, host: this.options.host }, () => {
        this.http.off('error', onError);
        this.http.on('error', (err) => this.logger.error({ err }, 'gateway listener error'));
        this.logger.info({ port: this.address().port }, 'gateway websocket listening');
        resolve();
      });
    });
  }

  /** The bound address; throws RelayError('NOT_READY') before start(). */
  address(): AddressInfo {
    const address = this.http.address();
    if (address === null || typeof address === 'string') throw new RelayError('NOT_READY', 'gateway server is not listening');
    return address;
  }

  /** Open sessions (hello accepted, socket not yet closed). */
  sessionCount(): number {
    return this.openSessions;
  }

  /** From now on, new sockets are closed with 1012 right after the upgrade; existing ones are untouched. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /**
   * Graceful hand-over: stops accepting, closes unauthenticated sockets at once and sessions spread evenly over
   * spreadMs, and resolves when every socket is gone and every onSessionClose has settled. The listener stays
   * bound (new sockets get 1012) until close().
   */
  async drain(options: GatewayDrainOptions): Promise<void> {
    this.stopAccepting();
    const all = [...this.connections];
    const open = all.filter((c) => c.isSessionOpen);
    for (const connection of all) {
      if (!connection.isSessionOpen) connection.shutdown(options.closeCode, options.reason, this.closeGraceMs);
    }
    const timers: NodeJS.Timeout[] = [];
    open.forEach((connection, index) => {
      const delay = open.length <= 1 ? 0 : Math.floor((options.spreadMs * index) / (open.length - 1));
      timers.push(setTimeout(() => connection.shutdown(options.closeCode, options.reason, this.closeGraceMs), delay));
    });
    this.logger.info({ sessions: open.length, spreadMs: options.spreadMs, closeCode: options.closeCode }, 'draining gateway sessions');
    try {
      await Promise.all(all.map((c) => c.finished));
    } finally {
      for (const timer of timers) clearTimeout(timer);
    }
  }

  /**
   * Stops listening and closes every socket (1001 unless told otherwise), terminating any that do not finish
   * the close handshake within closeGraceMs; resolves once every onSessionClose has settled. Idempotent.
   */
  close(options: GatewayCloseOptions = {}): Promise<void> {
    this.closing ??= this.closeNow(options.code ?? GOING_AWAY, options.reason ?? 'relay node is shutting down');
    return this.closing;
  }

  private async closeNow(code: number, reason: string): Promise<void> {
    this.accepting = false;
    const listenerClosed = new Promise<void>((resolve) => {
      if (!this.http.listening) {
        resolve();
        return;
      }
      this.http.close(() => resolve());
    });
    const all = [...this.connections];
    for (const connection of all) connection.shutdown(code, reason, this.closeGraceMs);
    for (const ws of this.refused) ws.terminate();
    await Promise.all(all.map((c) => c.finished));
    this.http.closeAllConnections();
    await listenerClosed;
    this.wheel.stop();
    this.logger.info({ closedSockets: all.length }, 'gateway websocket server closed');
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws, req, socket));
    } catch (err) {
      this.logger.info({ err }, 'gateway upgrade failed');
      socket.destroy();
    }
  }

  private onSocket(ws: WebSocket, req: IncomingMessage, socket: Duplex): void {
    // Only the address is kept: nothing of the upgrade request (headers, URL) outlives this call.
    const remoteAddress = clientAddress(req, this.trust);
    const source = sourceKey(remoteAddress);
    if (!this.accepting || this.closing !== undefined) {
      this.refuse(ws, socket, source, remoteAddress, 'not_accepting');
      return;
    }
    const slot = this.pending.tryAcquire(source);
    if (slot !== true) {
      this.refuse(ws, socket, source, remoteAddress, slot === 'per_source' ? 'per_source_limit' : 'node_socket_limit');
      return;
    }
    // An accepted socket's error and close listeners are its connection's (shared by all connections).
    this.connections.add(new GatewayConnection(this.host, { ws, socket, remoteAddress, source }));
  }

  /**
   * Refuses a socket right after the upgrade: the close code is sent and the socket destroyed at once, with its
   * bytes bounded meanwhile like any unauthenticated socket's.
   */
  private refuse(ws: WebSocket, socket: Duplex, source: string, remoteAddress: string, reason: RefusalReason): void {
    ws.on('error', (err) => this.logger.debug({ err, remoteAddress }, 'gateway socket error'));
    // Refused sockets are cut off after their close frame, so ws would report 1006: count the code that was sent.
    ws.once('close', (code) => this.observer.closed(closeCodeOf(ws, code)));
    this.refusals.record(source, reason, { pendingSockets: this.pending.size, pendingFromSource: this.pending.count(source) });
    if (this.closing !== undefined) {
      // close() already swept the refused set; a socket upgraded since would hold the listener open.
      ws.terminate();
      return;
    }
    new PreAuthGuard(socket, this.pendingBytes, this.limits.maxHelloBytes, () => undefined).start();
    this.refused.add(ws);
    ws.once('close', () => this.refused.delete(ws));
    const { closeCode, message } = reason === 'not_accepting' ? ERROR_CATALOG.SERVICE_RESTART : ERROR_CATALOG.TOO_MANY_PENDING_SOCKETS;
    const text = reason === 'node_socket_limit' ? 'too many unauthenticated sockets on this node' : message;
    dropSocket(ws, socket, closeCode, text);
  }

  /** Node-wide byte budget this server's gateways write under (shared with media fetching). */
  get sendBudget(): SendBudget {
    return this.budget;
  }
}
