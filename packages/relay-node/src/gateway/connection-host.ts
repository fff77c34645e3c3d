import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from 'pino';
import type { GatewayConnection } from './gateway-connection.js';
import type { GatewayApp } from './gateway-types.js';
import type { PendingBytePool } from './pre-auth-guard.js';
import type { RefusalReason } from './refusal-log.js';
import type { SafeObserver } from './safe-observer.js';
import type { SendBudget } from './send-budget.js';
import type { HeartbeatPolicy } from './socket-heartbeat.js';
import type { EventWriterContext } from './socket-session.js';
import type { TimerWheel } from './timer-wheel.js';

/** Per-socket limits, already resolved to numbers by the server. */
export interface ConnectionLimits {
  helloTimeoutMs: number;
  pingIntervalMs: number;
  pongTimeoutMs: number;
  maxFrameBytes: number;
  maxBufferedBytes: number;
  /** Raw bytes a socket may send before its hello is read. */
  maxHelloBytes: number;
  /** How long a socket closed for not reading gets to finish the close handshake before it is cut off. */
  closeGraceMs: number;
}

/**
 * What every connection of a server shares: one object per server, so a connection holds a single reference to it
 * instead of its own copy of each service and a closure per callback.
 */
export interface ConnectionHost {
  app: GatewayApp;
  logger: Logger;
  observer: SafeObserver;
  now: () => number;
  /** The server's shared timer wheel, for the hello deadline and the heartbeat. */
  wheel: TimerWheel;
  limits: ConnectionLimits;
  /** Node-wide bytes of unauthenticated sockets. */
  pendingBytes: PendingBytePool;
  /** Node-wide bytes held for slow gateways. */
  budget: SendBudget;
  /** The writers' shared settings (buffer cap, logger, observer, budget). */
  writer: EventWriterContext;
  /** The heartbeat's shared settings (wheel, ping interval, pong timeout). */
  heartbeat: HeartbeatPolicy;
  /** Counts and (rate-limited) logs a socket refused before authenticating. */
  onRefused(connection: GatewayConnection, reason: RefusalReason, detail?: Record<string, number | string>): void;
  /** Called exactly once, when the socket stops being unauthenticated (session opened or socket closed). */
  onLeavePending(connection: GatewayConnection): void;
  /** Called when hello was accepted, before the ack is written. */
  onSessionOpened(connection: GatewayConnection): void;
  /** Called when the socket of a connection whose session opened has closed (handlers may still be running). */
  onSessionClosed(connection: GatewayConnection): void;
  /** Called once the socket has closed and onSessionClose (if due) has settled. */
  onFinished(connection: GatewayConnection): void;
}

/** What the server knows of one accepted socket. */
export interface AcceptedSocket {
  ws: WebSocket;
  /** The TCP socket under ws, whose raw bytes are counted before authentication and which refusals destroy. */
  socket: Duplex;
  remoteAddress: string;
  /** The key per-source limits count this socket under. */
  source: string;
}
