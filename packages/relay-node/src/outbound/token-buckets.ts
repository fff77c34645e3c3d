/** Options for {@link TokenBuckets}. */
export interface TokenBucketOptions {
  /** Tokens added per second (the sustained rate). */
  ratePerSecond: number;
  /** Bucket size: how many may go at once after a quiet spell. */
  burst: number;
  now?: () => number;
  /** Buckets kept at most; full (idle) buckets are dropped first, so memory stays bounded. Default 10000. */
  maxKeys?: number;
}

/** One token bucket per key (gateway id), in memory: a gateway's replies all pass through the node holding its socket. */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;
  private readonly maxKeys: number;

  constructor(private readonly o: TokenBucketOptions) {
    this.now = o.now ?? Date.now;
    this.maxKeys = o.maxKeys ?? 10_000;
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    const now = this.now();
    const b = this.buckets.get(key) ?? { tokens: this.o.burst, at: now };
    const tokens = Math.min(this.o.burst, b.tokens + (Math.max(0, now - b.at) / 1000) * this.o.ratePerSecond);
    const granted = tokens >= 1;
    this.buckets.delete(key); // re-inserted last: the map's order is least recently used first
    this.buckets.set(key, { tokens: granted ? tokens - 1 : tokens, at: now });
    if (this.buckets.size > this.maxKeys) this.evict(now);
    return granted;
  }

  private evict(now: number): void {
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.o.ratePerSecond >= this.o.burst) this.buckets.delete(key);
    }
    // Still too many busy gateways: forget the least recently used (they start again with a full bucket).
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}
