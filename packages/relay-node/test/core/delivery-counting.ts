/** Store wrappers for delivery tests that count (or fail) the calls the engine makes. */
import type { DeliveryQueue } from '../../src/state/delivery-queue.js';
import type { PresenceMap } from '../../src/state/presence-map.js';

/** Calls per method name. */
export type CallCounts = Record<string, number>;

/** A queue that forwards to `inner` and counts each method's calls; `backlog` throws, as no delivery path may read it. */
export function countingQueue(inner: DeliveryQueue): { queue: DeliveryQueue; calls: CallCounts } {
  const calls: CallCounts = {};
  const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
  const queue: DeliveryQueue = {
    append: ((gatewayId: string, event: Parameters<DeliveryQueue['append']>[1], options?: Parameters<DeliveryQueue['append']>[2]) => {
      count('append');
      return inner.append(gatewayId, event, options);
    }) as DeliveryQueue['append'],
    appendMany: (g, entries) => (count('appendMany'), inner.appendMany(g, entries)),
    readAfter: (g, after, limit) => (count('readAfter'), inner.readAfter(g, after, limit)),
    ack: (g, id) => (count('ack'), inner.ack(g, id)),
    lastAcked: (g) => (count('lastAcked'), inner.lastAcked(g)),
    backlog: () => {
      count('backlog');
      throw new Error('a queue backlog was read');
    },
    trim: (g, limits) => (count('trim'), inner.trim(g, limits)),
    close: () => inner.close(),
  };
  return { queue, calls };
}

/** A presence map that forwards to whatever `current()` returns (so a test can swap it for an empty one) and counts calls. */
export function countingPresence(current: () => PresenceMap): { presence: PresenceMap; calls: CallCounts } {
  const calls: CallCounts = {};
  const count = (name: string) => (calls[name] = (calls[name] ?? 0) + 1);
  const presence: PresenceMap = {
    claim: (g, n) => (count('claim'), current().claim(g, n)),
    release: (g, n, gen) => (count('release'), current().release(g, n, gen)),
    lookup: (g) => (count('lookup'), current().lookup(g)),
    heartbeat: (n, ttl, held) => (count('heartbeat'), current().heartbeat(n, ttl, held)),
    countOwnedBy: (n) => current().countOwnedBy(n),
    liveNodes: () => current().liveNodes(),
    ownedBy: (n) => current().ownedBy(n),
    describe: (g, gen, d) => current().describe(g, gen, d),
    details: (g) => current().details(g),
    close: () => current().close(),
  };
  return { presence, calls };
}
