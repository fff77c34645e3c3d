import type { AppendedRun, DeliveryQueue, QueueAppendEntry } from '../state/delivery-queue.js';
import type { BusMessage, NodeBus } from '../state/node-bus.js';
import type { PresenceEntry, PresenceMap } from '../state/presence-map.js';
import type { RelayMetrics } from '../observability/metrics.js';
import type { DeliveryService } from './delivery-service.js';

/** Options for {@link BatchEnqueuer}. */
export interface BatchEnqueuerOptions {
  nodeId: string;
  queue: DeliveryQueue;
  presence: Pick<PresenceMap, 'lookup'>;
  bus: NodeBus;
  /** The local engine: trims after appends and drains gateways attached here. */
  delivery: Pick<DeliveryService, 'noteAppended' | 'wakeLocal'>;
  metrics: RelayMetrics;
  now?: () => number;
}

/**
 * Queues a whole page at once: each gateway's events with one append (one round trip, the gateway's appends all in
 * its own slot), every gateway side by side, then one wake-up per owning node naming all its gateways.
 * The same order of steps as a single enqueue: append, then look up the owner (a new owner claims before it reads,
 * so a gateway that moves in between is served by its new node either way), and wake even when every event was a
 * duplicate (the first wake-up may be what failed, which is why the page came round again).
 */
export class BatchEnqueuer {
  private readonly now: () => number;

  constructor(private readonly o: BatchEnqueuerOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * Appends each gateway's batch in order; resolves to each batch's ids (null for a duplicate), by gateway. Gateways in
   * `queuedElsewhere` had their events queued already (by a route appender: the count it appended, 0 for none new):
   * they are counted toward trimming and woken with the rest. `owners` holds owners that step read after its appends;
   * a gateway appended to here is looked up again, after this append. `runs` holds, by gateway, what that step appended,
   * which its wake-up carries, as it carries what an append here reports (a store's appendReadingOwner); a gateway
   * appended to both ways gets none (one wake-up covers both appends, so the owner reads its queue).
   */
  async enqueue(
    batches: ReadonlyMap<string, readonly QueueAppendEntry[]>,
    queuedElsewhere: ReadonlyMap<string, number> = new Map(),
    owners: ReadonlyMap<string, PresenceEntry | null> = new Map(),
    runs: ReadonlyMap<string, AppendedRun> = new Map(),
  ): Promise<Map<string, Array<string | null>>> {
    const results = new Map<string, Array<string | null>>();
    // Owners read by the append itself, after it (where the store can): no lookup of their own below.
    const readWithAppend = new Map<string, PresenceEntry | null>();
    // What the wake-ups carry: the caller's runs for gateways not appended to here, and what the appends here report.
    const carried = new Map([...runs].filter(([gatewayId]) => !batches.has(gatewayId)));
    const { queue } = this.o;
    await Promise.all(
      [...batches].map(async ([gatewayId, entries]) => {
        let ids: Array<string | null>;
        // Called on the queue, not taken off it: a store may implement it as a method.
        if (queue.appendReadingOwner) {
          const appended = await queue.appendReadingOwner(gatewayId, entries);
          ids = appended.ids;
          readWithAppend.set(gatewayId, appended.owner);
          if (appended.run && !queuedElsewhere.has(gatewayId)) carried.set(gatewayId, appended.run);
        } else {
          ids = await queue.appendMany(gatewayId, entries);
        }
        results.set(gatewayId, ids);
        this.o.delivery.noteAppended(gatewayId, ids.filter((id) => id !== null).length);
      }),
    );
    for (const [gatewayId, count] of queuedElsewhere) this.o.delivery.noteAppended(gatewayId, count);
    const known = new Map([...owners].filter(([gatewayId]) => !batches.has(gatewayId)));
    for (const [gatewayId, owner] of readWithAppend) known.set(gatewayId, owner);
    await this.wake([...new Set([...batches.keys(), ...queuedElsewhere.keys()])], known, carried);
    return results;
  }

  private async wake(gatewayIds: string[], known: ReadonlyMap<string, PresenceEntry | null>, runs: ReadonlyMap<string, AppendedRun>): Promise<void> {
    const owners = await Promise.all(gatewayIds.map((id) => (known.has(id) ? known.get(id)! : this.o.presence.lookup(id))));
    const byNode = new Map<string, string[]>();
    gatewayIds.forEach((gatewayId, i) => {
      const owner = owners[i];
      if (!owner) return;
      if (owner.nodeId === this.o.nodeId) {
        this.o.delivery.wakeLocal(gatewayId, runs.get(gatewayId));
        return;
      }
      const list = byNode.get(owner.nodeId);
      if (list) list.push(gatewayId);
      else byNode.set(owner.nodeId, [gatewayId]);
    });
    const sentAt = this.now();
    await Promise.all(
      [...byNode].map(async ([nodeId, ids]) => {
        // One gateway goes as the plain wake-up every relay version understands.
        const kind = ids.length === 1 ? 'wake' : 'wake-many';
        this.o.metrics.busMessages.inc({ direction: 'sent', kind });
        const carried = ids.filter((id) => runs.has(id));
        const message: BusMessage =
          ids.length === 1
            ? { kind: 'wake', gatewayId: ids[0]!, sentAt, ...(carried.length > 0 ? { run: runs.get(ids[0]!)! } : {}) }
            : { kind: 'wake-many', gatewayIds: ids, sentAt, ...(carried.length > 0 ? { runs: Object.fromEntries(carried.map((id) => [id, runs.get(id)!])) } : {}) };
        await this.o.bus.publish(nodeId, message);
      }),
    );
  }
}
