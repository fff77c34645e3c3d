import type { RedisClient } from './redis-client.js';
import type { DedupStore } from '../dedup-store.js';
import { checkPrefix, toPx } from './keyspace.js';

/** Construction options for {@link RedisDedupStore}. */
export interface RedisDedupStoreOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

/** Cluster-wide once-only claims: SET NX PX, so the first node to claim a msgid wins. */
export class RedisDedupStore implements DedupStore {
  private readonly redis: RedisClient;
  private readonly base: string;

  constructor(opts: RedisDedupStoreOptions) {
    this.redis = opts.redis;
    this.base = `${checkPrefix(opts.prefix)}dedup:`;
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const reply = await this.redis.set(this.base + key, '1', 'PX', toPx(ttlMs), 'NX');
    return reply === 'OK';
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }
}
