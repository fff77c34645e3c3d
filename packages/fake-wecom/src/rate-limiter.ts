import type { FakeClock } from './clock.js';

/** Per-API calls per minute (fixed windows on the fake clock), as WeCom's minute-level frequency limit (45009). */
export class RateLimiter {
  readonly #windows = new Map<string, { windowStart: number; count: number }>();

  constructor(
    private readonly clock: FakeClock,
    private limitPerMinute: number,
  ) {}

  /** Counts one call; false when the API is over its limit for the current minute. */
  take(api: string): boolean {
    const minute = Math.floor(this.clock.now() / 60_000);
    const w = this.#windows.get(api);
    if (!w || w.windowStart !== minute) {
      this.#windows.set(api, { windowStart: minute, count: 1 });
      return 1 <= this.limitPerMinute;
    }
    w.count++;
    return w.count <= this.limitPerMinute;
  }

  /** Changes the limit (tests lower it to provoke 45009). */
  setLimit(limitPerMinute: number): void {
    this.limitPerMinute = limitPerMinute;
  }

  /** Forgets the windows. */
  reset(): void {
    this.#windows.clear();
  }
}
