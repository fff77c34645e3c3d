import type { DeliveryQueue } from '../state/delivery-queue.js';
import type { QueueBacklogSnapshot } from './operator-metrics.js';

/** Queues read at once while summing a backlog (each is one Redis round trip or one SQLite query). */
const BACKLOG_CONCURRENCY = 16;

/** Sums the waiting events over the given gateways' queues and finds the oldest one. */
export async function sumQueueBacklog(queue: DeliveryQueue, gatewayIds: readonly string[], now: number): Promise<QueueBacklogSnapshot> {
  let events = 0;
  let oldest: number | null = null;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < gatewayIds.length) {
      const backlog = await queue.backlog(gatewayIds[next++]!);
      events += backlog.items;
      if (backlog.oldestEnqueuedAt !== null && (oldest === null || backlog.oldestEnqueuedAt < oldest)) oldest = backlog.oldestEnqueuedAt;
    }
  };
  await Promise.all(Array.from({ length: Math.min(BACKLOG_CONCURRENCY, gatewayIds.length) }, worker));
  return { events, oldestAgeSeconds: oldest === null ? 0 : Math.max(0, (now - oldest) / 1000) };
}
