import type { QueuedEvent } from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';
import type { PresenceEntry } from './presence-map.js';

/** One event waiting in a gateway's queue. */
export interface QueuedItem {
  /** Ordered within one gateway's queue; opaque to callers except for ordering via the store. */
  id: string;
  event: QueuedEvent;
  /** Epoch ms when appended. */
  enqueuedAt: number;
}

/** Whether a decoded value can stand as a queued event (an object naming its type); what a store cannot read it drops. */
export function isQueuedEvent(value: unknown): value is QueuedEvent {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/**
 * Items one append put at the end of a gateway's queue, known to the node that appended them, so the node holding the
 * gateway can write them without reading the queue. `after` is the last item the queue held just before (null: it held
 * none); each item follows the one before it in the queue.
 */
export interface AppendedRun {
  after: string | null;
  items: QueuedItem[];
}

/**
 * Orders two queue ids of one store: every store issues canonical decimals (Redis stream ids `<ms>-<seq>`, or a plain
 * sequence), compared part by part as whole numbers, whatever their size. -1, 0 or 1. Compared in place, without
 * splitting: a drain and a wake-up's decoding compare every item they take.
 */
export function compareQueueIds(a: string, b: string): number {
  const aDash = a.indexOf('-');
  const bDash = b.indexOf('-');
  const aEnd = aDash === -1 ? a.length : aDash;
  const bEnd = bDash === -1 ? b.length : bDash;
  return compareDigits(a, 0, aEnd, b, 0, bEnd) || compareDigits(a, aEnd + 1, a.length, b, bEnd + 1, b.length);
}

// Canonical decimals a[aFrom, aTo) and b[bFrom, bTo) (empty where from passes to): the longer is larger, and equal
// lengths order digit by digit.
function compareDigits(a: string, aFrom: number, aTo: number, b: string, bFrom: number, bTo: number): number {
  const aLength = Math.max(0, aTo - aFrom);
  const bLength = Math.max(0, bTo - bFrom);
  if (aLength !== bLength) return aLength < bLength ? -1 : 1;
  for (let i = 0; i < aLength; i++) {
    const d = a.charCodeAt(aFrom + i) - b.charCodeAt(bFrom + i);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Options for {@link DeliveryQueue.append}. */
export interface QueueAppendOptions {
  /**
   * Makes the append idempotent per gateway: a second append with the same key within the ttl appends
   * nothing. An empty string counts as no key, so events lacking an id are never dropped as each other's duplicates.
   */
  dedupKey?: string;
  /** How long the key is remembered, in ms, from its first append; default {@link DEFAULT_QUEUE_DEDUP_TTL_MS}. */
  dedupTtlMs?: number;
  /**
   * When what the key names happened (unix seconds; a WeCom message's send_time): the same for every append with
   * this key: pass it on every append with the key. A store may keep the keys of one hour together, compactly; a key
   * is then remembered at least dedupTtlMs (up to an hour longer). A key appended without it (as a store kept them
   * all before it packed them) still refuses appends with it.
   */
  dedupAt?: number;
}

/** One event of a {@link DeliveryQueue.appendMany} batch. */
export interface QueueAppendEntry {
  event: QueuedEvent;
  options?: QueueAppendOptions;
}

/** How long a dedup key is remembered when the caller gives none: 4 days, past WeCom's own retry horizon. */
export const DEFAULT_QUEUE_DEDUP_TTL_MS = 4 * 24 * 3600_000;

// A century: "practically forever" while staying an exact integer in every backend (and far below Redis' PX limit).
const MAX_DEDUP_TTL_MS = 100 * 365 * 24 * 3600_000;

/** A dedup key and its ttl as the backends apply them. */
export interface QueueDedup {
  key: string;
  /** Positive whole milliseconds. */
  ttlMs: number;
  /** Whole unix seconds, when the caller gave a finite dedupAt. */
  at?: number;
}

/**
 * Normalises append options for the backends: null when the append is not deduplicated. A malformed ttl
 * is a caller bug; it is refused before anything is written rather than guessed at.
 */
export function queueDedupOf(options: QueueAppendOptions | undefined): QueueDedup | null {
  const key = options?.dedupKey;
  if (key === undefined || key === '') return null;
  if (typeof key !== 'string') {
    throw new RelayError('INTERNAL', 'dedupKey must be a string', { dedupKeyType: typeof key });
  }
  const ttl = options?.dedupTtlMs ?? DEFAULT_QUEUE_DEDUP_TTL_MS;
  if (typeof ttl !== 'number' || Number.isNaN(ttl) || ttl <= 0) {
    throw new RelayError('INTERNAL', 'dedupTtlMs must be a positive number of milliseconds', { dedupTtlMs: String(ttl) });
  }
  const at = options?.dedupAt;
  const ttlMs = Math.min(Math.ceil(ttl), MAX_DEDUP_TTL_MS);
  return typeof at === 'number' && Number.isFinite(at) && at >= 0 ? { key, ttlMs, at: Math.floor(at) } : { key, ttlMs };
}

/**
 * Per-gateway ordered queue of events not yet delivered. Every inbound message and binding event goes
 * here first; whichever node holds the gateway drains it. Bounded by age and count.
 */
export interface DeliveryQueue {
  /** Appends an event with no dedupKey, which always appends; resolves to its id. */
  append(gatewayId: string, event: QueuedEvent): Promise<string>;
  /**
   * Appends an event; resolves to its id, or null when an event with the same dedupKey was appended to this
   * gateway's queue within dedupTtlMs (then nothing is appended). Without a dedupKey every call appends.
   * The check and the append are one atomic step, and the key is remembered even after its item is acked or trimmed.
   */
  append(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): Promise<string | null>;
  /**
   * Appends several events to one gateway's queue, in order, as one step (one round trip to a remote store); resolves
   * to each entry's id, or null where its dedupKey was remembered, from an earlier append or from earlier in the batch.
   */
  appendMany(gatewayId: string, entries: readonly QueueAppendEntry[]): Promise<Array<string | null>>;
  /**
   * Where a store can do it in the same step: {@link appendMany}, then the gateway's owner as recorded right after the
   * appends (alive or not; null: none). A caller that wakes the owner then needs no lookup of its own. `run`: what was
   * appended, when anything was, for the wake-up to carry.
   */
  readonly appendReadingOwner?:
    | ((gatewayId: string, entries: readonly QueueAppendEntry[]) => Promise<{ ids: Array<string | null>; owner: PresenceEntry | null; run?: AppendedRun }>)
    | undefined;
  /** Items after `afterId` (exclusive; null = from the oldest kept), in order, at most `limit`. */
  readAfter(gatewayId: string, afterId: string | null, limit: number): Promise<QueuedItem[]>;
  /**
   * Records that everything up to and including `id` was delivered; those items may be dropped. `prev`, when given, is
   * the item the caller read right before `id`, acknowledging `id` alone: a store whose pointer stands at `prev` then
   * has only `id` to drop.
   */
  ack(gatewayId: string, id: string, prev?: string): Promise<void>;
  /** The last id recorded as delivered, or null. */
  lastAcked(gatewayId: string): Promise<string | null>;
  /** How many items wait in a gateway's queue (appended, not yet acknowledged or trimmed) and when the oldest was appended (epoch ms). */
  backlog(gatewayId: string): Promise<{ items: number; oldestEnqueuedAt: number | null }>;
  /** Drops items older than maxAgeMs or beyond maxItems per gateway; resolves to how many were dropped. */
  trim(gatewayId: string, limits: { maxAgeMs: number; maxItems: number }): Promise<number>;
  close(): Promise<void>;
}
