import { WebSocket } from 'ws';

/** Pings a socket on an interval and reports it dead when a pong does not come back in time. */
export class SocketHeartbeat {
  private readonly interval: NodeJS.Timeout;
  private pongTimer: NodeJS.Timeout | undefined;

  /**
   * @param onDead called once per missed pong; the owner decides how to end the socket.
   * @param onError receives anything the timers' callbacks throw, so a timer can never crash the process.
   */
  constructor(
    private readonly ws: WebSocket,
    intervalMs: number,
    private readonly timeoutMs: number,
    private readonly onDead: () => void,
    private readonly onError: (err: unknown) => void,
  ) {
    this.interval = setInterval(() => this.guard(() => this.ping()), intervalMs);
    this.interval.unref();
    this.onPong = this.onPong.bind(this);
    ws.on('pong', this.onPong);
  }

  /** Stops pinging; call when the socket has closed. */
  stop(): void {
    clearInterval(this.interval);
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
    this.ws.off('pong', this.onPong);
  }

  private ping(): void {
    if (this.ws.readyState !== WebSocket.OPEN || this.pongTimer !== undefined) return;
    // While we are not reading, an answered ping is indistinguishable from an unanswered one.
    if (this.ws.isPaused) return;
    this.pongTimer = setTimeout(() => this.guard(() => this.onTimeout()), this.timeoutMs);
    this.pongTimer.unref();
    this.ws.ping();
  }

  private onPong(): void {
    clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
  }

  private onTimeout(): void {
    this.pongTimer = undefined;
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
