/** Options for {@link LogThrottle}. */
export interface LogThrottleOptions {
  /** A key is let through at most once per this many milliseconds. */
  intervalMs: number;
  /** Keys remembered at once; beyond it every new key shares one bucket, so memory stays bounded. */
  maxKeys?: number;
  now?: () => number;
}

/** What the throttle decided for one event. */
export interface ThrottleDecision {
  /** Whether to write this one. */
  log: boolean;
  /** Events of the same key dropped since the last one written (reported with the next written line). */
  suppressed: number;
}

const OVERFLOW_KEY = '\u0000overflow';

/**
 * Lets one log line per key (e.g. source address + refusal code) through per interval and counts the rest, so
 * a flood of bad requests costs a line a minute instead of a line (and a stack) each.
 */
export class LogThrottle {
  private readonly entries = new Map<string, { until: number; suppressed: number }>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly o: LogThrottleOptions) {
    this.now = o.now ?? Date.now;
    this.maxKeys = o.maxKeys ?? 1_000;
  }

  /** Records an event of `key` and says whether to log it. */
  check(key: string): ThrottleDecision {
    const now = this.now();
    let k = key;
    if (!this.entries.has(k) && this.entries.size >= this.maxKeys) {
      this.prune(now);
      if (this.entries.size >= this.maxKeys) k = OVERFLOW_KEY;
    }
    const entry = this.entries.get(k);
    if (entry && now < entry.until) {
      entry.suppressed += 1;
      return { log: false, suppressed: entry.suppressed };
    }
    const suppressed = entry?.suppressed ?? 0;
    this.entries.delete(k);
    this.entries.set(k, { until: now + this.o.intervalMs, suppressed: 0 });
    return { log: true, suppressed };
  }

  /** Keys remembered now: at most maxKeys, plus the one bucket the overflow shares. */
  get size(): number {
    return this.entries.size;
  }

  private prune(now: number): void {
    for (const [k, e] of this.entries) if (now >= e.until) this.entries.delete(k);
  }
}
