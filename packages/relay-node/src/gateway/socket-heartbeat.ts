import { WebSocket } from 'ws';
import type { TimerWheel, WheelTimer } from './timer-wheel.js';

/** Pings a socket on an interval and reports it dead when a pong does not come back in time. */
export class SocketHeartbeat {
  private next: WheelTimer | undefined;
  private pongDeadline: WheelTimer | undefined;
  private stopped = false;

  /**
   * @param wheel the node's shared timer wheel: sockets hold no timers of their own.
   * @param onDead called once per missed pong; the owner decides how to end the socket.
   * @param onError receives anything the callbacks throw, so a timer can never crash the process.
   */
  constructor(
    private readonly ws: WebSocket,
    private readonly wheel: TimerWheel,
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly onDead: () => void,
    private readonly onError: (err: unknown) => void,
  ) {
    this.onPong = this.onPong.bind(this);
    ws.on('pong', this.onPong);
    this.scheduleNext();
  }

  /** Stops pinging; call when the socket has closed. */
  stop(): void {
    this.stopped = true;
    this.next?.cancel();
    this.pongDeadline?.cancel();
    this.pongDeadline = undefined;
    this.ws.off('pong', this.onPong);
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    this.next = this.wheel.after(this.intervalMs, () => this.guard(() => this.ping()));
  }

  private ping(): void {
    this.scheduleNext();
    if (this.ws.readyState !== WebSocket.OPEN || this.pongDeadline !== undefined) return;
    // While we are not reading, an answered ping is indistinguishable from an unanswered one.
    if (this.ws.isPaused) return;
    this.pongDeadline = this.wheel.after(this.timeoutMs, () => this.guard(() => this.onTimeout()));
    this.ws.ping();
  }

  private onPong(): void {
    this.pongDeadline?.cancel();
    this.pongDeadline = undefined;
  }

  private onTimeout(): void {
    this.pongDeadline = undefined;
    if (this.ws.isPaused || this.ws.readyState === WebSocket.CLOSED) return;
    this.onDead();
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.onError(err);
    }
  }
}
