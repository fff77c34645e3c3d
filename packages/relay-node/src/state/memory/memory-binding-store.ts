import type { BindingEventOrder, BindingStore, OrderedBindOutcome } from '../binding-store.js';

/** Bindings held in process memory; lost on exit, so for tests and throwaway single-node runs. */
export class MemoryBindingStore implements BindingStore {
  private readonly gatewayByUser = new Map<string, string>();
  // The reverse index keeps usersOf/unbindAll proportional to one gateway's users, not to every binding.
  private readonly usersByGateway = new Map<string, Set<string>>();
  private readonly orders = new Map<string, BindingEventOrder>();
  private readonly accounts = new Map<string, string>();

  /** The gateway a user is bound to, or null. */
  async gatewayFor(externalUserId: string): Promise<string | null> {
    return this.gatewayByUser.get(externalUserId) ?? null;
  }

  /** Binds a user, moving them off any previous gateway; resolves to that previous gateway. */
  async bind(externalUserId: string, gatewayId: string): Promise<string | null> {
    const previous = this.gatewayByUser.get(externalUserId) ?? null;
    if (previous !== null) this.removeFromIndex(previous, externalUserId);
    this.gatewayByUser.set(externalUserId, gatewayId);
    let users = this.usersByGateway.get(gatewayId);
    if (users === undefined) {
      users = new Set();
      this.usersByGateway.set(gatewayId, users);
    }
    users.add(externalUserId);
    return previous;
  }

  /** Binds unless an event as new or newer set the user's binding. */
  async bindInOrder(
    externalUserId: string,
    gatewayId: string,
    order: BindingEventOrder,
  ): Promise<{ outcome: OrderedBindOutcome; previous: string | null }> {
    const stored = this.orders.get(externalUserId);
    const current = this.gatewayByUser.get(externalUserId) ?? null;
    if (stored && stored.at > order.at) return { outcome: 'stale', previous: current };
    if (stored && stored.at === order.at && stored.eventId === order.eventId) return { outcome: 'repeat', previous: current };
    this.orders.set(externalUserId, { at: order.at, eventId: order.eventId });
    if (order.openKfid) this.accounts.set(externalUserId, order.openKfid);
    else this.accounts.delete(externalUserId);
    return { outcome: 'bound', previous: await this.bind(externalUserId, gatewayId) };
  }

  /** The kf account the user's binding came through, if recorded. */
  async accountOf(externalUserId: string): Promise<string | null> {
    if (!this.gatewayByUser.has(externalUserId)) return null;
    return this.accounts.get(externalUserId) ?? null;
  }

  /** The users bound to a gateway. */
  async usersOf(gatewayId: string): Promise<string[]> {
    return [...(this.usersByGateway.get(gatewayId) ?? [])];
  }

  /** Removes one user's binding; resolves to the gateway they were bound to. */
  async unbind(externalUserId: string): Promise<string | null> {
    const previous = this.gatewayByUser.get(externalUserId) ?? null;
    if (previous === null) return null;
    this.gatewayByUser.delete(externalUserId);
    this.removeFromIndex(previous, externalUserId);
    return previous;
  }

  /** Removes every binding of a gateway; resolves to the users that were unbound. */
  async unbindAll(gatewayId: string): Promise<string[]> {
    const users = [...(this.usersByGateway.get(gatewayId) ?? [])];
    this.usersByGateway.delete(gatewayId);
    for (const user of users) this.gatewayByUser.delete(user);
    return users;
  }

  /** Every binding; iterates a snapshot so callers may bind and unbind while they walk it. */
  async *entries(): AsyncIterable<[string, string]> {
    for (const entry of [...this.gatewayByUser.entries()]) yield entry;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  private removeFromIndex(gatewayId: string, externalUserId: string): void {
    const users = this.usersByGateway.get(gatewayId);
    if (users === undefined) return;
    users.delete(externalUserId);
    if (users.size === 0) this.usersByGateway.delete(gatewayId);
  }
}
