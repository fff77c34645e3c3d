/**
 * Counts unauthenticated sockets per remote address, so one host cannot hold thousands of sockets open
 * without ever saying hello (each costs a timer and a file descriptor until the hello timeout).
 */
export class PendingSocketLimiter {
  private readonly counts = new Map<string, number>();

  constructor(private readonly maxPerAddress: number) {}

  /** Takes a slot for the address; false when the address is already at its limit. */
  tryAcquire(address: string): boolean {
    const current = this.counts.get(address) ?? 0;
    if (current >= this.maxPerAddress) return false;
    this.counts.set(address, current + 1);
    return true;
  }

  /** Gives a slot back; call exactly once per successful tryAcquire. */
  release(address: string): void {
    const current = this.counts.get(address) ?? 0;
    // Deleting at zero keeps the map from growing with every address ever seen.
    if (current <= 1) this.counts.delete(address);
    else this.counts.set(address, current - 1);
  }

  /** Unauthenticated sockets currently held by the address. */
  count(address: string): number {
    return this.counts.get(address) ?? 0;
  }
}
