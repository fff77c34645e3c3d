/** Why a new unauthenticated socket was not given a slot. */
export type PendingRefusal = 'per_source' | 'node';

/**
 * Counts unauthenticated sockets per source (see sourceKey: IPv6 by /64) and node-wide, so neither one host nor
 * many together can hold thousands of sockets open without ever saying hello (each costs a timer, a file
 * descriptor and up to the hello limit in buffered bytes until it leaves).
 */
export class PendingSocketLimiter {
  private readonly counts = new Map<string, number>();
  private total = 0;

  constructor(
    private readonly maxPerSource: number,
    private readonly maxTotal = Number.POSITIVE_INFINITY,
  ) {}

  /** Takes a slot for the source; says which limit is full otherwise. */
  tryAcquire(source: string): true | PendingRefusal {
    const current = this.counts.get(source) ?? 0;
    if (current >= this.maxPerSource) return 'per_source';
    if (this.total >= this.maxTotal) return 'node';
    this.counts.set(source, current + 1);
    this.total += 1;
    return true;
  }

  /** Gives a slot back; call exactly once per successful tryAcquire. */
  release(source: string): void {
    const current = this.counts.get(source);
    if (current === undefined) return;
    this.total -= 1;
    // Deleting at zero keeps the map from growing with every source ever seen.
    if (current <= 1) this.counts.delete(source);
    else this.counts.set(source, current - 1);
  }

  /** Unauthenticated sockets currently held by the source. */
  count(source: string): number {
    return this.counts.get(source) ?? 0;
  }

  /** Unauthenticated sockets on the node. */
  get size(): number {
    return this.total;
  }
}
