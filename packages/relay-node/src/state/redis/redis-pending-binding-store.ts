import type { RedisClient } from './redis-client.js';
import type { PendingBindingStore } from '../pending-binding-store.js';
import { checkPrefix, toPx } from './keyspace.js';

/** Construction options for {@link RedisPendingBindingStore}. */
export interface RedisPendingBindingStoreOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

/** QR binding tokens as one key per token, expired by Redis itself (PX). */
export class RedisPendingBindingStore implements PendingBindingStore {
  private readonly redis: RedisClient;
  private readonly base: string;

  constructor(opts: RedisPendingBindingStoreOptions) {
    this.redis = opts.redis;
    this.base = `${checkPrefix(opts.prefix)}pending-binding:`;
  }

  async put(token: string, gatewayId: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.base + token, gatewayId, 'PX', toPx(ttlMs));
  }

  async lookup(token: string): Promise<string | null> {
    return await this.redis.get(this.base + token);
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }
}
