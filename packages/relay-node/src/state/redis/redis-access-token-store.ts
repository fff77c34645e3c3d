import { randomUUID } from 'node:crypto';
import type { RedisClient } from './redis-client.js';
import type { AccessTokenStore } from '../access-token-store.js';
import { checkPrefix, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/** Construction options for {@link RedisAccessTokenStore}. */
export interface RedisAccessTokenStoreOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. Relays of different WeCom corps sharing a Redis need different prefixes. */
  prefix?: string;
}

// KEYS: token hash; ARGV: token. Drops it only if it is still that token.
const INVALIDATE = new LuaScript(
  'access-token-invalidate',
  `
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

// KEYS: lock; ARGV: holder. Only the holder that set the lock may delete it.
const UNLOCK = new LuaScript(
  'access-token-unlock',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/**
 * The shared access token in a hash {token, expiresAt}, and a refresh lock (SET NX PX) whose value is
 * unique per acquisition, so a holder whose lock expired cannot release someone else's.
 */
export class RedisAccessTokenStore implements AccessTokenStore {
  private readonly redis: RedisClient;
  private readonly tokenKey: string;
  private readonly lockKey: string;
  private lockHolder: string | null = null;

  constructor(opts: RedisAccessTokenStoreOptions) {
    this.redis = opts.redis;
    const base = `${checkPrefix(opts.prefix)}{access-token}:`;
    this.tokenKey = base + 'value';
    this.lockKey = base + 'refresh-lock';
  }

  async read(): Promise<{ token: string; expiresAt: number } | null> {
    const [token, expiresAt] = await this.redis.hmget(this.tokenKey, 'token', 'expiresAt');
    if (token == null || expiresAt == null) return null;
    const at = Number(expiresAt);
    return Number.isFinite(at) ? { token, expiresAt: at } : null;
  }

  async write(token: string, expiresAt: number): Promise<void> {
    await this.redis.hset(this.tokenKey, 'token', token, 'expiresAt', String(expiresAt));
  }

  async invalidate(token: string): Promise<void> {
    await INVALIDATE.run(this.redis, [this.tokenKey], [token]);
  }

  async tryLockRefresh(ttlMs: number): Promise<boolean> {
    const holder = randomUUID();
    const reply = await this.redis.set(this.lockKey, holder, 'PX', toPx(ttlMs), 'NX');
    if (reply !== 'OK') return false;
    this.lockHolder = holder;
    return true;
  }

  async unlockRefresh(): Promise<void> {
    const holder = this.lockHolder;
    if (holder === null) return;
    this.lockHolder = null;
    await UNLOCK.run(this.redis, [this.lockKey], [holder]);
  }

  async close(): Promise<void> {
    // Nothing of its own to release; a held refresh lock simply expires.
  }
}
