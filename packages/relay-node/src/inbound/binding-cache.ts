/**
 * The gateways users were last read bound to, for a page router whose route step checks each binding it is given:
 * a hint that saves the read before the step, never the word on where a message goes. Holds at most `capacity`
 * users; the one remembered longest ago goes first.
 */
export class BindingCache {
  private readonly gateways = new Map<string, string>();

  constructor(private readonly capacity: number) {}

  /** The gateway the user was last read bound to, if remembered. */
  get(user: string): string | undefined {
    return this.gateways.get(user);
  }

  /** Remembers the user's gateway as just read. */
  set(user: string, gatewayId: string): void {
    // Deleted first, so the user moves to the end of the insertion order the eviction follows.
    this.gateways.delete(user);
    this.gateways.set(user, gatewayId);
    if (this.gateways.size > this.capacity) this.gateways.delete(this.gateways.keys().next().value as string);
  }

  /** Forgets the user (their binding is read anew next time). */
  delete(user: string): void {
    this.gateways.delete(user);
  }

  /** How many users are remembered. */
  get size(): number {
    return this.gateways.size;
  }
}
