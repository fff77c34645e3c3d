import type { QueuedEvent } from '@wecom-relay/shared';

/** One event waiting in a gateway's queue. */
export interface QueuedItem {
  /** Ordered within one gateway's queue; opaque to callers except for ordering via the store. */
  id: string;
  event: QueuedEvent;
  /** Epoch ms when appended. */
  enqueuedAt: number;
}

/**
 * Per-gateway ordered queue of events not yet delivered. Every inbound message and binding event goes
 * here first; whichever node holds the gateway drains it. Bounded by age and count.
 */
export interface DeliveryQueue {
  /** Appends an event; resolves to its id. */
  append(gatewayId: string, event: QueuedEvent): Promise<string>;
  /** Items after `afterId` (exclusive; null = from the oldest kept), in order, at most `limit`. */
  readAfter(gatewayId: string, afterId: string | null, limit: number): Promise<QueuedItem[]>;
  /** Records that everything up to and including `id` was delivered; those items may be dropped. */
  ack(gatewayId: string, id: string): Promise<void>;
  /** The last id recorded as delivered, or null. */
  lastAcked(gatewayId: string): Promise<string | null>;
  /** Drops items older than maxAgeMs or beyond maxItems per gateway; resolves to how many were dropped. */
  trim(gatewayId: string, limits: { maxAgeMs: number; maxItems: number }): Promise<number>;
  close(): Promise<void>;
}
