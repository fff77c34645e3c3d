import { RecentMap } from '../../util/recent-map.js';

/** Construction options for {@link ExpiryRefreshes}. */
export interface ExpiryRefreshesOptions {
  /** The expiry each refresh sets (ms). */
  ttlMs: number;
  /** Most keys remembered; past it the one refreshed longest ago is forgotten (and refreshed again when next written). */
  maxKeys?: number;
  now?: () => number;
}

/** Keys remembered by default: a pulling node routes for every gateway of the cluster, at about 100 bytes each. */
const DEFAULT_MAX_KEYS = 65_536;
/** Longest a refreshed key goes without another: its expiry then still lies at least the ttl less this ahead. */
const MAX_REFRESH_EVERY_MS = 3_600_000;

/**
 * Which keys this node set the expiry of lately, so a write that would move a key's expiry again (a gateway's queue on
 * every append) can leave it where it is: an append to a busy queue costs one command less. A key is refreshed again
 * once a 24th of the ttl (an hour at most) has passed since this node last did, so its expiry never falls more than
 * that below the full ttl while it is written to; a queue's ttl is its retention age plus a day, so no entry the
 * retention keeps can expire with it. What this node does not know (another node's refresh, a restart) only costs a
 * refresh. A key deleted meanwhile must be noticed by the write itself: the scripts append with NOMKSTREAM first and
 * set the expiry of a stream they had to create.
 */
export class ExpiryRefreshes {
  /** Refresh time by key, the one refreshed longest ago first. */
  private readonly at: RecentMap<string, number>;
  private readonly everyMs: number;
  private readonly now: () => number;

  constructor(o: ExpiryRefreshesOptions) {
    this.everyMs = Math.min(MAX_REFRESH_EVERY_MS, Math.floor(o.ttlMs / 24));
    this.at = new RecentMap(o.maxKeys ?? DEFAULT_MAX_KEYS);
    this.now = o.now ?? Date.now;
  }

  /** Whether a write of `key` starting now must set its expiry again. */
  due(key: string): boolean {
    const at = this.at.get(key);
    return at === undefined || this.now() - at >= this.everyMs;
  }

  /** The time to pass to {@link noted} for a write that starts now. */
  started(): number {
    return this.now();
  }

  /** A write that started at `startedAt` set `key`'s expiry. */
  noted(key: string, startedAt: number): void {
    this.at.set(key, startedAt);
  }

  /** Keys remembered now. */
  get size(): number {
    return this.at.size;
  }
}
