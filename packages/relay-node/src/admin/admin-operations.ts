import type { Logger } from 'pino';
import type { BindingStore } from '../state/binding-store.js';
import type { DeliveryQueue } from '../state/delivery-queue.js';
import type { NodeBus } from '../state/node-bus.js';
import type { PresenceMap } from '../state/presence-map.js';
import type { RedeliverOutcome } from '../delivery/delivery-service.js';
import { RelayError } from '../errors/relay-error.js';

/** What the admin operations need of a node; passed in so they can be tested on their own. */
export interface AdminOperationsDeps {
  nodeId: string;
  presence: PresenceMap;
  queue: DeliveryQueue;
  bindings: BindingStore;
  bus: NodeBus;
  /** Unbinds every user of a gateway and ends their WeCom sessions (the same path as the gateway's unbind_all). */
  unbindGateway: (gatewayId: string) => Promise<string[]>;
  redeliverLocal: (gatewayId: string, afterId: string | null) => Promise<RedeliverOutcome>;
  /** Starts this node's drain (gateways handed over with 1012, then the node stops). */
  drainSelf: (by: string) => void;
  logger: Logger;
  now?: () => number;
}

/** A gateway as an operator sees it. */
export interface GatewayView {
  gatewayId: string;
  connected: boolean;
  node: string | null;
  generation: number | null;
  /** ISO time the current socket opened, when its node recorded it. */
  since: string | null;
  dialect: string | null;
  delivery: string | null;
  bindings: number;
  backlog: BacklogView;
}

/** A gateway's queue as an operator sees it. */
export interface BacklogView {
  depth: number;
  oldestEnqueuedAt: string | null;
  oldestAgeMs: number | null;
}

/**
 * The admin API's operations, cluster-wide: listings read the presence map and queues every node shares, and
 * actions on a gateway or node held elsewhere travel over the node bus to the node concerned.
 */
export class AdminOperations {
  private readonly now: () => number;

  constructor(private readonly d: AdminOperationsDeps) {
    this.now = d.now ?? Date.now;
  }

  /** Every live node, with its gateway count and ids. */
  async nodes(): Promise<Array<{ nodeId: string; self: boolean; gateways: number; gatewayIds: string[] }>> {
    const nodes = await this.d.presence.liveNodes();
    return Promise.all(
      nodes.map(async (n) => ({ nodeId: n.nodeId, self: n.nodeId === this.d.nodeId, gateways: n.gateways, gatewayIds: await this.d.presence.ownedBy(n.nodeId) })),
    );
  }

  /** One gateway's connection, bindings count and backlog. */
  async gateway(gatewayId: string): Promise<GatewayView> {
    const [held, users, backlog] = await Promise.all([
      this.d.presence.details(gatewayId),
      this.d.bindings.usersOf(gatewayId),
      this.backlog(gatewayId),
    ]);
    return {
      gatewayId,
      connected: held !== null,
      node: held?.owner.nodeId ?? null,
      generation: held?.owner.generation ?? null,
      since: held?.details ? new Date(held.details.since).toISOString() : null,
      dialect: held?.details?.dialect ?? null,
      delivery: held?.details?.delivery ?? null,
      bindings: users.length,
      backlog,
    };
  }

  /** The users bound to a gateway. */
  async bindings(gatewayId: string): Promise<string[]> {
    return (await this.d.bindings.usersOf(gatewayId)).sort();
  }

  /** A gateway's queue depth and the age of its oldest waiting event. */
  async backlog(gatewayId: string): Promise<BacklogView> {
    const { items: depth, oldestEnqueuedAt } = await this.d.queue.backlog(gatewayId);
    return {
      depth,
      oldestEnqueuedAt: oldestEnqueuedAt === null ? null : new Date(oldestEnqueuedAt).toISOString(),
      oldestAgeMs: oldestEnqueuedAt === null ? null : Math.max(0, this.now() - oldestEnqueuedAt),
    };
  }

  /** Removes one user's binding; the gateway they were on. */
  async unbindUser(externalUserId: string): Promise<{ externalUserId: string; gatewayId: string }> {
    const gatewayId = await this.d.bindings.unbind(externalUserId);
    if (gatewayId === null) throw new RelayError('ADMIN_NOT_FOUND', 'that user is bound to no gateway');
    return { externalUserId, gatewayId };
  }

  /** Removes every binding of a gateway. */
  async unbindGateway(gatewayId: string): Promise<{ gatewayId: string; users: string[] }> {
    return { gatewayId, users: (await this.d.unbindGateway(gatewayId)).sort() };
  }

  /**
   * Asks the node holding an ack-mode gateway to send again from `afterId`. Done here when this node holds it
   * (with the outcome), otherwise forwarded over the bus (`forwarded`: the other node logs the outcome).
   */
  async redeliver(gatewayId: string, afterId: string | null, by: string): Promise<{ node: string; forwarded: boolean; after?: string | null }> {
    const owner = await this.d.presence.lookup(gatewayId);
    if (owner === null) throw new RelayError('ADMIN_NOT_FOUND', 'the gateway is not connected; its waiting events are delivered when it connects');
    if (owner.nodeId !== this.d.nodeId) {
      const heard = await this.d.bus.publish(owner.nodeId, { kind: 'redeliver', gatewayId, afterId, by });
      if (!heard) throw new RelayError('ADMIN_CONFLICT', `node ${owner.nodeId} did not answer on the bus; try again`);
      return { node: owner.nodeId, forwarded: true };
    }
    const outcome = await this.d.redeliverLocal(gatewayId, afterId);
    switch (outcome.result) {
      case 'scheduled':
        return { node: this.d.nodeId, forwarded: false, after: outcome.after };
      case 'not_connected':
        throw new RelayError('ADMIN_NOT_FOUND', 'the gateway is not connected; its waiting events are delivered when it connects');
      case 'not_ack_mode':
        throw new RelayError('ADMIN_CONFLICT', 'the gateway does not use delivery "ack": written events count as delivered and are not kept');
      case 'not_waiting':
        throw new RelayError('ADMIN_CONFLICT', 'that id is neither the last acknowledged one nor an unconfirmed one of this connection');
    }
  }

  /** Drains this node, or another live node by id over the bus. */
  async drain(nodeId: string, by: string): Promise<{ node: string; forwarded: boolean }> {
    if (nodeId === this.d.nodeId) {
      this.d.drainSelf(by);
      return { node: nodeId, forwarded: false };
    }
    const live = await this.d.presence.liveNodes();
    if (!live.some((n) => n.nodeId === nodeId)) throw new RelayError('ADMIN_NOT_FOUND', 'no live node has that id');
    const heard = await this.d.bus.publish(nodeId, { kind: 'drain', by });
    if (!heard) throw new RelayError('ADMIN_CONFLICT', `node ${nodeId} did not answer on the bus; try again`);
    return { node: nodeId, forwarded: true };
  }
}
