import type { Logger } from 'pino';
import type { DeliveryMode, Dialect, GatewayCommand, GatewayEvent, GatewayFeature, HelloCommand } from '@wecom-relay/shared';

/** One authenticated gateway connection, as the application sees it. */
export interface GatewaySession {
  readonly gatewayId: string;
  readonly dialect: Dialect;
  readonly delivery: DeliveryMode;
  readonly resumeAfter: string | undefined;
  /** Optional events the gateway asked for in hello. */
  readonly features: readonly GatewayFeature[];
  readonly remoteAddress: string;
  /** Clock time (ms) when the hello was accepted. */
  readonly openedAt: number;
  /** Unique per connection, so a reconnect of the same gateway is told apart from the old socket. */
  readonly sessionId: string;
  /**
   * Encodes and writes; resolves when written to the socket (ws send callback); rejects with
   * GatewaySessionClosedError if closed, or RelayError('SEND_BUFFER_FULL') when the buffer cap is hit
   * (the socket is then closed with 4009).
   */
  send(event: GatewayEvent): Promise<void>;
  /** Starts the close handshake; a no-op when already closing. */
  close(code: number, reason: string): void;
  /** True while frames can still be written. */
  readonly isOpen: boolean;
}

/** Every command a session hands to the application (hello is handled by the socket layer). */
export type SessionCommand = Exclude<GatewayCommand, HelloCommand>;

/** The application behind the sockets: binding, replies, delivery queues, presence. */
export interface GatewayApp {
  /** Decides whether a hello may proceed; throws RelayError('AUTH_FAILED') (→ close 4003) to refuse. */
  authenticate(hello: HelloCommand): Promise<void>;
  /** After the hello ack was written: claim presence, replay bindings, drain queued events. */
  onSessionOpen(session: GatewaySession): Promise<void>;
  /** Every later command (hello excluded). Throwing a RelayError sends an `error` frame with its code and the command's id; other errors → INTERNAL. */
  onCommand(session: GatewaySession, command: SessionCommand): Promise<void>;
  /** Runs once per session whose onSessionOpen was called, after it and after every command already received. */
  onSessionClose(session: GatewaySession, info: { code: number; reason: string }): Promise<void>;
}

/** Metrics hooks; a hook that throws is logged and ignored. */
export interface GatewayObserver {
  /** Authenticated sessions: +1 when one opens, -1 when its socket closes. */
  connected(delta: number): void;
  /** A frame the socket layer rejected, by error code (FRAME_*, CONTENT_TOO_LONG, HELLO_REPEATED, ...). */
  frameError(code: string): void;
  /** A decoded command, by dialect-neutral type. */
  framesIn(type: string): void;
  /** An event written to a socket, by dialect-neutral type. */
  framesOut(type: string): void;
  /** Any gateway socket closed (authenticated or not), with the close code the socket reported. */
  closed?(code: number): void;
}

/** How the server is configured; every optional field documents its default. */
export interface GatewayServerOptions {
  /** TCP port of the gateway WebSocket listener (0 picks a free one). Any request path is accepted, as deployed. */
  port: number;
  /** Interface to bind; default: all interfaces. */
  host?: string;
  /** The application behind the sockets. */
  app: GatewayApp;
  logger: Logger;
  observer?: GatewayObserver;
  /** Clock for `openedAt`; default Date.now. */
  now?: () => number;
  /** The first frame must be a hello within this many ms, else close 4001. Default 5000. */
  helloTimeoutMs?: number;
  /** A ping is sent this often. Default 30000. */
  pingIntervalMs?: number;
  /** A socket that has not answered a ping within this many ms is terminated. Default 10000. */
  pongTimeoutMs?: number;
  /**
   * Frames above this many bytes are answered with a FRAME_TOO_LARGE `error` and the socket stays.
   * Default 4 MiB. Frames above twice this are beyond the hard cap: ws closes the socket with 1009.
   */
  maxFrameBytes?: number;
  /** Unauthenticated sockets allowed per remote address; beyond this a new socket is closed 4008. Default 64. */
  maxPendingSocketsPerAddress?: number;
  /**
   * Peers (load balancers) whose X-Forwarded-For names the real client, so limits count clients rather than the
   * balancer. Default none: the TCP peer is the client.
   */
  trustedProxies?: readonly string[];
  /** Bytes a socket may have waiting to be written; beyond this send() rejects and the socket is closed 4009. Default 8 MiB. */
  maxBufferedBytes?: number;
  /** During close()/drain(), a socket whose close handshake has not finished after this many ms is terminated. Default 5000. */
  closeGraceMs?: number;
}

/** Options for GatewayServer.close(). */
export interface GatewayCloseOptions {
  /** Default 1001 (going away). */
  code?: number;
  reason?: string;
}

/** Options for GatewayServer.drain(). */
export interface GatewayDrainOptions {
  closeCode: number;
  reason: string;
  /** Session closes are spread evenly over this window so reconnects do not arrive as one burst elsewhere. */
  spreadMs: number;
}
