import type { QueuedEvent } from '@wecom-relay/shared';
import { queueDedupOf, type DeliveryQueue, type QueueAppendEntry, type QueueAppendOptions, type QueuedItem } from '../delivery-queue.js';
import { parseNumericDeliveryId } from './numeric-delivery-id.js';

/** Options for {@link MemoryDeliveryQueue}. */
export interface MemoryDeliveryQueueOptions {
  /** Clock in epoch ms; enqueuedAt and age trimming come from it. */
  now?: () => number;
  /** How often (by the clock) expired dedup keys are swept out, bounding memory to roughly one interval of traffic plus ttl. */
  sweepIntervalMs?: number;
}

/** One gateway's queue: items in id order, and the delivered pointer. */
interface GatewayQueue {
  items: Array<{ seq: number; item: QueuedItem }>;
  acked: number | null;
}

/** Delivery queues in process memory; ids are decimal strings of one counter, so they order numerically. */
export class MemoryDeliveryQueue implements DeliveryQueue {
  private readonly queues = new Map<string, GatewayQueue>();
  // Kept apart from the queues, so acking or trimming an item never forgets its key: gateway → key → expiry.
  private readonly dedupKeys = new Map<string, Map<string, number>>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private lastSweep: number;
  private lastSeq = 0;

  constructor(options: MemoryDeliveryQueueOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.lastSweep = this.now();
  }

  /** Appends an event unless its dedupKey is still remembered for this gateway; resolves to the id or null. */
  append(gatewayId: string, event: QueuedEvent): Promise<string>;
  append(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): Promise<string | null>;
  async append(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): Promise<string | null> {
    return this.appendNow(gatewayId, event, options);
  }

  /** Appends each entry in order with no await in between, so the batch is one step. */
  async appendMany(gatewayId: string, entries: readonly QueueAppendEntry[]): Promise<Array<string | null>> {
    // Checked up front, so a malformed entry leaves the whole batch unappended.
    for (const entry of entries) queueDedupOf(entry.options);
    return entries.map((entry) => this.appendNow(gatewayId, entry.event, entry.options));
  }

  private appendNow(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): string | null {
    const dedup = queueDedupOf(options);
    // A copy, as a persistent store would keep, so a caller mutating its object later changes nothing queued.
    // Taken before the key is recorded, so an event that cannot be copied leaves no key behind.
    const copy = structuredClone(event);
    if (dedup !== null) {
      // No await between the check and the push below, so concurrent appends cannot both pass the check.
      const now = this.now();
      this.sweep(now);
      let keys = this.dedupKeys.get(gatewayId);
      const expiresAt = keys?.get(dedup.key);
      if (expiresAt !== undefined && expiresAt > now) return null;
      if (keys === undefined) {
        keys = new Map();
        this.dedupKeys.set(gatewayId, keys);
      }
      keys.set(dedup.key, now + dedup.ttlMs);
    }
    this.lastSeq += 1;
    const id = String(this.lastSeq);
    this.queueOf(gatewayId).items.push({ seq: this.lastSeq, item: { id, event: copy, enqueuedAt: this.now() } });
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

  /** Items still kept for the gateway and when the oldest was appended. */
  async backlog(gatewayId: string): Promise<{ items: number; oldestEnqueuedAt: number | null }> {
    const items = this.queues.get(gatewayId)?.items ?? [];
    return { items: items.length, oldestEnqueuedAt: items[0]?.item.enqueuedAt ?? null };
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

  private sweep(now: number): void {
    if (now - this.lastSweep < this.sweepIntervalMs) return;
    this.lastSweep = now;
    for (const [gatewayId, keys] of this.dedupKeys) {
      for (const [key, expiresAt] of keys) {
        if (expiresAt <= now) keys.delete(key);
      }
      if (keys.size === 0) this.dedupKeys.delete(gatewayId);
    }
  }

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
