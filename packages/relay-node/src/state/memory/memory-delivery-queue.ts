import type { QueuedEvent } from '@wecom-relay/shared';
import type { DeliveryQueue, QueuedItem } from '../delivery-queue.js';
import { parseNumericDeliveryId } from './numeric-delivery-id.js';

/** Options for {@link MemoryDeliveryQueue}. */
export interface MemoryDeliveryQueueOptions {
  /** Clock in epoch ms; enqueuedAt and age trimming come from it. */
  now?: () => number;
}

/** One gateway's queue: items in id order, and the delivered pointer. */
interface GatewayQueue {
  items: Array<{ seq: number; item: QueuedItem }>;
  acked: number | null;
}

/** Delivery queues in process memory; ids are decimal strings of one counter, so they order numerically. */
export class MemoryDeliveryQueue implements DeliveryQueue {
  private readonly queues = new Map<string, GatewayQueue>();
  private readonly now: () => number;
  private lastSeq = 0;

  constructor(options: MemoryDeliveryQueueOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Appends an event; resolves to its id. */
  async append(gatewayId: string, event: QueuedEvent): Promise<string> {
    this.lastSeq += 1;
    const id = String(this.lastSeq);
    // A copy, as a persistent store would keep, so a caller mutating its object later changes nothing queued.
    this.queueOf(gatewayId).items.push({ seq: this.lastSeq, item: { id, event: structuredClone(event), enqueuedAt: this.now() } });
    return id;
  }

  /** Items after afterId (exclusive), oldest first, at most limit. */
  async readAfter(gatewayId: string, afterId: string | null, limit: number): Promise<QueuedItem[]> {
    const after = afterId === null ? 0 : parseNumericDeliveryId(afterId);
    const items = this.queues.get(gatewayId)?.items ?? [];
    if (limit <= 0) return [];
    const start = firstIndexAfter(items, after);
    return items.slice(start, start + Math.floor(limit)).map(({ item }) => structuredClone(item));
  }

  /** Moves the delivered pointer forward to id (never back) and drops what it covers. */
  async ack(gatewayId: string, id: string): Promise<void> {
    const seq = parseNumericDeliveryId(id);
    const queue = this.queueOf(gatewayId);
    if (queue.acked !== null && queue.acked >= seq) return;
    queue.acked = seq;
    queue.items.splice(0, firstIndexAfter(queue.items, seq));
  }

  /** The last id recorded as delivered, or null. */
  async lastAcked(gatewayId: string): Promise<string | null> {
    const acked = this.queues.get(gatewayId)?.acked ?? null;
    return acked === null ? null : String(acked);
  }

  /** Drops items older than maxAgeMs, then the oldest beyond maxItems; resolves to how many went. */
  async trim(gatewayId: string, limits: { maxAgeMs: number; maxItems: number }): Promise<number> {
    const queue = this.queues.get(gatewayId);
    if (queue === undefined) return 0;
    const cutoff = this.now() - limits.maxAgeMs;
    const before = queue.items.length;
    queue.items = queue.items.filter(({ item }) => item.enqueuedAt >= cutoff);
    const excess = queue.items.length - Math.max(0, Math.floor(limits.maxItems));
    if (excess > 0) queue.items.splice(0, excess);
    return before - queue.items.length;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  private queueOf(gatewayId: string): GatewayQueue {
    let queue = this.queues.get(gatewayId);
    if (queue === undefined) {
      queue = { items: [], acked: null };
      this.queues.set(gatewayId, queue);
    }
    return queue;
  }
}

/** Index of the first item whose seq is greater than `after` (items are sorted by seq). */
function firstIndexAfter(items: ReadonlyArray<{ seq: number }>, after: number): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((items[mid]?.seq ?? Number.POSITIVE_INFINITY) <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
