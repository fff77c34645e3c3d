/** The fake's notion of time: a base clock plus an offset tests move forward to cross 48 h, 10 min or 20 s limits. */
export class FakeClock {
  #offsetMs = 0;

  constructor(private readonly base: () => number = Date.now) {}

  /** Current time in epoch ms. */
  now(): number {
    return this.base() + this.#offsetMs;
  }

  /** Current time in unix seconds, as WeCom's send_time and created_at use. */
  nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  /** Moves time forward (never back: tokens and windows only ever age). */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advance takes a non-negative number of ms');
    this.#offsetMs += ms;
  }
}
