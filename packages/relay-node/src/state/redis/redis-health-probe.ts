import type { RedisClient } from './redis-client.js';
import type { StateLogger } from './state-logger.js';

/** Construction options for {@link RedisHealthProbe}. */
export interface RedisHealthProbeOptions {
  /** The client whose round trips are measured; owned by the caller. */
  redis: RedisClient;
  /** PING this often. */
  intervalMs: number;
  /** The server counts as answering while its last reply is younger than this. */
  staleAfterMs: number;
  /**
   * With no reply for this long the connection is dropped and made again: a socket whose peer vanished without
   * closing it (a host gone, a NAT entry dropped) would otherwise stay "ready" and silent forever. 0 = never.
   */
  reconnectAfterMs?: number;
  /** Which connection this is, in log lines (e.g. `commands`, `subscriber`). */
  connection?: string;
  logger: StateLogger;
  now?: () => number;
}

/**
 * Knows whether Redis answers, not merely whether a socket is open: a stopped or overloaded server keeps its
 * connections and answers nothing, so the connection state alone would report it healthy forever. A PING on a
 * timer dates the last round trip; readiness holds only while that date is recent.
 */
export class RedisHealthProbe {
  private readonly now: () => number;
  private lastReplyAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = false;
  private lastForcedAt: number | null = null;
  /** Last state logged; nothing is said before the first reply (the connection is still being made). */
  private answering = false;

  constructor(private readonly o: RedisHealthProbeOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Starts the periodic PING, the first one as soon as the connection is ready. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.o.intervalMs);
    this.timer.unref();
    this.o.redis.on('ready', this.onReady);
    this.ping();
  }

  /** Whether a reply arrived within the last `staleAfterMs`. */
  isAnswering(): boolean {
    return this.lastReplyAt !== null && this.now() - this.lastReplyAt <= this.o.staleAfterMs;
  }

  /** Milliseconds since the last reply, or null before the first one. */
  lastReplyAgeMs(): number | null {
    return this.lastReplyAt === null ? null : this.now() - this.lastReplyAt;
  }

  /** Stops the timer. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.o.redis.off('ready', this.onReady);
  }

  private readonly onReady = (): void => this.ping();

  /** Logs each change of state once, then pings. */
  private tick(): void {
    const answering = this.isAnswering();
    if (answering !== this.answering && this.lastReplyAt !== null) {
      this.answering = answering;
      if (answering) this.o.logger.info({ connection: this.o.connection }, 'redis answers again');
      else this.o.logger.warn({ connection: this.o.connection, lastReplyMsAgo: this.lastReplyAgeMs() }, 'redis does not answer');
    }
    this.maybeReconnect();
    this.ping();
  }

  private maybeReconnect(): void {
    const limit = this.o.reconnectAfterMs ?? 0;
    const age = this.lastReplyAgeMs();
    if (limit <= 0 || age === null || age <= limit || this.o.redis.status !== 'ready') return;
    const now = this.now();
    if (this.lastForcedAt !== null && now - this.lastForcedAt <= limit) return;
    this.lastForcedAt = now;
    this.o.logger.warn({ connection: this.o.connection, lastReplyMsAgo: age }, 'redis has not answered for too long; reconnecting');
    // Commands waiting on the old socket fail now (callers retry); the new socket answers once the server does.
    this.o.redis.disconnect(true);
  }

  private ping(): void {
    // One PING at a time: while the server is stalled, piling more up behind the first proves nothing.
    if (this.inFlight || this.o.redis.status !== 'ready') return;
    this.inFlight = true;
    this.o.redis.ping().then(
      () => {
        this.lastReplyAt = this.now();
      },
      () => undefined, // the age of the last reply says it all
    ).finally(() => {
      this.inFlight = false;
    });
  }
}
