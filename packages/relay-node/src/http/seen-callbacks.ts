/** Options for {@link SeenCallbacks}. */
export interface SeenCallbacksOptions {
  /** Entries are kept this long; a replay older than the timestamp window is refused before the cache is asked. */
  ttlMs: number;
  /** Most entries kept; the oldest go first. */
  maxEntries: number;
  now?: () => number;
}

/**
 * The callbacks a node accepted recently, keyed by msg_signature + timestamp + nonce. WeCom retries a callback
 * it got no 200 for with the same request, and anyone who captured one can send it again: an exact copy of a
 * callback already noted is answered as the first one was, without queueing another pull. A callback whose
 * handling failed is forgotten, so WeCom's retry of it is handled afresh.
 */
export class SeenCallbacks {
  private readonly entries = new Map<string, { expiresAt: number; done: Promise<void> }>();
  private readonly now: () => number;

  constructor(private readonly o: SeenCallbacksOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * Runs `handle` for a callback not seen before and remembers it; for a copy of one seen (or still being
   * handled), returns the first one's outcome instead. `replay` says which happened.
   */
  run(key: string, handle: () => Promise<void>): { replay: boolean; done: Promise<void> } {
    const now = this.now();
    this.expire(now);
    const seen = this.entries.get(key);
    if (seen && seen.expiresAt > now) return { replay: true, done: seen.done };
    const done = handle();
    this.entries.set(key, { expiresAt: now + this.o.ttlMs, done });
    done.catch(() => {
      if (this.entries.get(key)?.done === done) this.entries.delete(key);
    });
    while (this.entries.size > this.o.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    return { replay: false, done };
  }

  /** Entries remembered now. */
  size(): number {
    return this.entries.size;
  }

  private expire(now: number): void {
    // Insertion order is expiry order (one ttl for all), so expired entries are all at the front.
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt > now) break;
      this.entries.delete(key);
    }
  }
}
