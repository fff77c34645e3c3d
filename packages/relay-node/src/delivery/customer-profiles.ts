import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';

/** kf/customer/batchget takes at most 100 ids per call. */
const MAX_BATCH = 100;

/** Options for {@link CustomerProfileCache}. */
export interface CustomerProfileCacheOptions {
  /** One kf/customer/batchget call: profiles by id; ids WeCom does not know are absent. */
  fetch: (ids: readonly string[]) => Promise<Map<string, Record<string, unknown>>>;
  logger: Logger;
  /** Profiles kept at most (least recently used go first). */
  maxEntries?: number;
  /** A profile is fetched again after this long (nicknames and avatars change). */
  ttlMs?: number;
  /** How long lookups gather before one call goes out, so a burst of messages costs one call per 100 customers. */
  batchDelayMs?: number;
  /** The clock profiles age by (ms); default Date.now. */
  now?: () => number;
}

/** A looked-up profile and when it was fetched. */
type Entry = { profile: Record<string, unknown> | null; fetchedAt: number };

/**
 * Customers' WeCom profiles for `customer_profile` gateways: looked up in batches, kept in a bounded LRU for a TTL.
 * A failed lookup yields no profile (the frame goes without it) and is not cached, so the next one tries again.
 */
export class CustomerProfileCache {
  private readonly cache: LRUCache<string, Entry>;
  /** Lookups asked for and not answered yet: a second ask for the same customer shares the first. */
  private readonly inflight = new Map<string, Promise<Entry | null>>();
  private waiting = new Map<string, (entry: Entry | null) => void>();
  private timer: NodeJS.Timeout | null = null;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly o: CustomerProfileCacheOptions) {
    // Age is judged on the injected clock rather than by the LRU's own TTL, so refresh is testable without waiting.
    this.cache = new LRUCache<string, Entry>({ max: o.maxEntries ?? 10_000 });
    this.ttlMs = o.ttlMs ?? 3_600_000;
    this.now = o.now ?? Date.now;
  }

  /** The profile, or null when WeCom does not know the customer or could not be asked; refetched once stale. */
  async get(externalUserId: string): Promise<Record<string, unknown> | null> {
    const hit = this.cache.get(externalUserId);
    if (hit && this.now() - hit.fetchedAt < this.ttlMs) return hit.profile;
    let pending = this.inflight.get(externalUserId);
    if (!pending) {
      pending = new Promise<Entry | null>((resolve) => {
        this.waiting.set(externalUserId, resolve);
        if (this.waiting.size >= MAX_BATCH) this.flush();
        else this.timer ??= setTimeout(() => this.flush(), this.o.batchDelayMs ?? 20);
      });
      this.inflight.set(externalUserId, pending);
      void pending.then(() => this.inflight.delete(externalUserId));
    }
    return (await pending)?.profile ?? null;
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.waiting;
    this.waiting = new Map();
    const ids = [...batch.keys()];
    for (let i = 0; i < ids.length; i += MAX_BATCH) void this.lookup(ids.slice(i, i + MAX_BATCH), batch);
  }

  private async lookup(ids: string[], waiters: Map<string, (entry: Entry | null) => void>): Promise<void> {
    let found: Map<string, Record<string, unknown>> | null = null;
    try {
      found = await this.o.fetch(ids);
    } catch (err) {
      this.o.logger.warn({ err, count: ids.length }, 'customer profiles could not be fetched; frames go without them');
    }
    const fetchedAt = this.now();
    for (const id of ids) {
      let entry: Entry | null = null;
      if (found) {
        entry = { profile: profileFields(found.get(id)), fetchedAt };
        this.cache.set(id, entry);
      }
      waiters.get(id)?.(entry);
    }
  }
}

/** What a gateway sees of a profile: WeCom's fields except the id it already has. */
function profileFields(raw: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (!raw) return null;
  const { external_userid: _, ...rest } = raw;
  return rest;
}
