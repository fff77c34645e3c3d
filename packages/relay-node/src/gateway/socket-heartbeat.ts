import { WebSocket } from 'ws';
import type { TimerWheel, WheelTarget, WheelTimer } from './timer-wheel.js';

/** How every socket of a server is pinged; one object shared by all of them. */
export interface HeartbeatPolicy {
  /** The node's shared timer wheel: sockets hold no timers of their own. */
  wheel: TimerWheel;
  intervalMs: number;
  timeoutMs: number;
}

/** Who is told about a socket's heartbeat. */
export interface HeartbeatOwner {
  /** Called once per missed pong; the owner decides how to end the socket. */
  onHeartbeatDead(): void;
  /** Receives anything the heartbeat's timers throw, so a timer can never crash the process. */
  onHeartbeatError(err: unknown): void;
}

const PING = 0;
const PONG_DEADLINE = 1;

/**
 * The heartbeat of each socket, for the one pong listener all sockets share: a listener (or bound method) per socket
 * would be a function object held by every idle connection.
 */
const bySocket = new WeakMap<WebSocket, SocketHeartbeat>();

function onPong(this: WebSocket): void {
  bySocket.get(this)?.pong();
}

/** Pings a socket on an interval and reports it dead when a pong does not come back in time. */
export class SocketHeartbeat implements WheelTarget {
  private next: WheelTimer | undefined;
  private pongDeadline: WheelTimer | undefined;
  private stopped = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly policy: HeartbeatPolicy,
    private readonly owner: HeartbeatOwner,
  ) {
    bySocket.set(ws, this);
    ws.on('pong', onPong);
    this.scheduleNext();
  }

  /** Stops pinging; call when the socket has closed. */
  stop(): void {
    this.stopped = true;
    this.next?.cancel();
    this.next = undefined;
    this.pongDeadline?.cancel();
    this.pongDeadline = undefined;
    this.ws.off('pong', onPong);
    bySocket.delete(this.ws);
  }

  /** A pong came back: the socket is alive. */
  pong(): void {
    this.pongDeadline?.cancel();
    this.pongDeadline = undefined;
  }

  /** Called by the wheel. */
  onWheelTimer(kind: number): void {
    try {
      if (kind === PING) this.ping();
      else this.onTimeout();
    } catch (err) {
      this.owner.onHeartbeatError(err);
    }
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    this.next = this.policy.wheel.schedule(this.policy.intervalMs, this, PING);
  }

  private ping(): void {
    this.scheduleNext();
    if (this.ws.readyState !== WebSocket.OPEN || this.pongDeadline !== undefined) return;
    // While we are not reading, an answered ping is indistinguishable from an unanswered one.
    if (this.ws.isPaused) return;
    this.pongDeadline = this.policy.wheel.schedule(this.policy.timeoutMs, this, PONG_DEADLINE);
    this.ws.ping();
  }

  private onTimeout(): void {
    this.pongDeadline = undefined;
    if (this.ws.isPaused || this.ws.readyState === WebSocket.CLOSED) return;
    this.owner.onHeartbeatDead();
  }
}
