/**
 * Where the SDK remembers what the application has processed, so a redelivered event is dropped rather than
 * handled twice, and where to resume after a restart. Asynchronous so it can sit on IndexedDB, a file or a
 * database; implement it on the same database as your handler's effects to make "handled" and "recorded" one
 * transaction.
 */
export interface DeliveryStore {
  /** The last delivery id the gateway acknowledged (to send as `resume_after`), if any. */
  lastAcked(gatewayId: string): Promise<string | undefined>;
  /** True when any of `keys` was recorded as processed. */
  seen(gatewayId: string, keys: readonly string[]): Promise<boolean>;
  /** Records an event as processed under `keys` and makes `deliveryId` the point to resume after, together. */
  record(gatewayId: string, keys: readonly string[], deliveryId: string): Promise<void>;
}

/**
 * The keys an event is remembered by: WeCom's msgid where it has one, else its delivery id. WeCom msgids are unique
 * across messages and events alike, and a delivery id always carries the same event, so the msgid alone catches a
 * resend under the same delivery id as well as the same message queued twice; keeping one key an event, not both,
 * halves what a store holds and writes. Stores written with both keys are read the same.
 */
export function dedupKeys(event: { type: string; deliveryId?: string; id?: string }): string[] {
  if (event.type !== 'binding_resolved' && event.type !== 'send_failed' && event.id) return [`m:${event.id}`];
  return event.deliveryId === undefined ? [] : [`d:${event.deliveryId}`];
}

/** How many processed keys a store keeps per gateway by default: far more than any redelivery can reach back. */
export const DEFAULT_DEDUP_WINDOW = 10_000;

/**
 * Remembers the newest `window` keys in insertion order; the oldest is forgotten when a new one comes.
 * The shared bounded memory behind the stores in this package.
 */
export class KeyWindow {
  private readonly keys = new Set<string>();
  lastAcked: string | undefined;

  constructor(private readonly window: number = DEFAULT_DEDUP_WINDOW) {
    if (!(window >= 1)) throw new RangeError('the dedup window must hold at least one key');
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    this.keys.delete(key);
    this.keys.add(key);
    while (this.keys.size > this.window) {
      const oldest = this.keys.values().next().value as string;
      this.keys.delete(oldest);
    }
  }

  get size(): number {
    return this.keys.size;
  }

  /** The keys, oldest first. */
  list(): string[] {
    return [...this.keys];
  }
}

/**
 * The default store: in memory, so it drops repeats within one process's life (reconnects, relay restarts) but
 * forgets on restart. Use a persistent store (`@wecom-relay/gateway/node-file-store`, or your own) to keep
 * exactly-once across restarts of your app.
 */
export class MemoryDeliveryStore implements DeliveryStore {
  private readonly gateways = new Map<string, KeyWindow>();

  constructor(private readonly window: number = DEFAULT_DEDUP_WINDOW) {}

  private of(gatewayId: string): KeyWindow {
    let w = this.gateways.get(gatewayId);
    if (!w) {
      w = new KeyWindow(this.window);
      this.gateways.set(gatewayId, w);
    }
    return w;
  }

  async lastAcked(gatewayId: string): Promise<string | undefined> {
    return this.gateways.get(gatewayId)?.lastAcked;
  }

  async seen(gatewayId: string, keys: readonly string[]): Promise<boolean> {
    const w = this.gateways.get(gatewayId);
    return w !== undefined && keys.some((k) => w.has(k));
  }

  async record(gatewayId: string, keys: readonly string[], deliveryId: string): Promise<void> {
    const w = this.of(gatewayId);
    for (const key of keys) w.add(key);
    w.lastAcked = deliveryId;
  }
}
