import type { RedisClient } from './redis-client.js';
import type { DedupStore } from '../dedup-store.js';
import { checkPrefix, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';

// KEYS[1] the decision; ARGV: value, ttl ms. Resolves to the value that stands (SET NX GET needs Redis 7).
const DECIDE = new LuaScript(
  'dedup-decide',
  `
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`,
);

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

  async decide(key: string, value: string, ttlMs: number): Promise<string> {
    return String(await DECIDE.run(this.redis, [this.base + key], [value, toPx(ttlMs)]));
  }

  async recall(key: string): Promise<string | null> {
    return await this.redis.get(this.base + key);
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }
}
