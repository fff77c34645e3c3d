import type { RedisClient } from './redis-client.js';
import type { CallbackToken, SyncCoordinator, SyncLease } from '../sync-coordinator.js';
import { checkPrefix, hashTag, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/** Construction options for {@link RedisSyncCoordinator}. */
export interface RedisSyncCoordinatorOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
  /** Clock for callback tokens' receivedAt; default Date.now. */
  now?: () => number;
  /** Runs before every cursor commit and may refuse it by throwing (e.g. until the page's appends are on a replica). */
  beforeCommit?: () => Promise<void>;
}

// KEYS: pending, token hash; ARGV: has-token ('1'/'0'), token, receivedAt.
// An older callback processed late must not replace a fresher token.
const NOTE_PENDING = new LuaScript(
  'sync-note-pending',
  `
redis.call('SET', KEYS[1], '1')
if ARGV[1] == '1' then
  local stored = tonumber(redis.call('HGET', KEYS[2], 'receivedAt'))
  if not stored or stored <= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[2], 'value', ARGV[2], 'receivedAt', ARGV[3])
  end
end
return 1
`,
);

// KEYS: lease, fence counter; ARGV: lease ms. Returns the new fence, or nil while a lease exists.
const TRY_ACQUIRE = new LuaScript(
  'sync-try-acquire',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], fence, 'PX', ARGV[1])
return fence
`,
);

// Every script below first checks that the lease key still holds this holder's fence: a holder whose
// lease expired cannot act even if nobody has taken over yet.

// KEYS: lease, pending; ARGV: fence. -1 = lease lost, else how many pending marks were cleared.
const TAKE_PENDING = new LuaScript(
  'sync-take-pending',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call('DEL', KEYS[2])
`,
);

// KEYS: lease, cursor hash; ARGV: fence, cursor.
const COMMIT_CURSOR = new LuaScript(
  'sync-commit-cursor',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], 'value', ARGV[2], 'fence', ARGV[1])
return 1
`,
);

// KEYS: lease; ARGV: fence, lease ms.
const RENEW = new LuaScript(
  'sync-renew',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`,
);

// KEYS: lease; ARGV: fence.
const RELEASE = new LuaScript(
  'sync-release',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`,
);

/** The keys of one kf account, all under its `{kf:<open_kfid>}` hash tag. */
interface KfKeys {
  lease: string;
  fence: string;
  cursor: string;
  pending: string;
  token: string;
}

/**
 * Pull coordination in Redis: a PX lease whose value is a fencing number from an INCR counter; the
 * cursor, pending mark and callback token sit next to it so each step is one single-slot script.
 */
export class RedisSyncCoordinator implements SyncCoordinator {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly beforeCommit: (() => Promise<void>) | undefined;

  constructor(opts: RedisSyncCoordinatorOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
    this.now = opts.now ?? Date.now;
    this.beforeCommit = opts.beforeCommit;
  }

  async notePending(openKfid: string, callbackToken: string | null): Promise<void> {
    const keys = this.keys(openKfid);
    await NOTE_PENDING.run(this.redis, [keys.pending, keys.token], [
      callbackToken === null ? '0' : '1',
      callbackToken ?? '',
      Math.floor(this.now()),
    ]);
  }

  async hasPending(openKfid: string): Promise<boolean> {
    return (await this.redis.exists(this.keys(openKfid).pending)) === 1;
  }

  async tryAcquire(openKfid: string, leaseMs: number): Promise<SyncLease | null> {
    const keys = this.keys(openKfid);
    const fence = await TRY_ACQUIRE.run(this.redis, [keys.lease, keys.fence], [toPx(leaseMs)]);
    if (typeof fence !== 'number') return null;
    return new RedisSyncLease(this.redis, keys, fence, this.beforeCommit);
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }

  private keys(openKfid: string): KfKeys {
    const base = this.prefix + hashTag('kf', openKfid) + ':';
    return {
      lease: base + 'lease',
      fence: base + 'fence',
      cursor: base + 'cursor',
      pending: base + 'pending',
      token: base + 'token',
    };
  }
}

class RedisSyncLease implements SyncLease {
  private readonly fenceArg: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KfKeys,
    readonly fence: number,
    private readonly beforeCommit?: () => Promise<void>,
  ) {
    this.fenceArg = String(fence);
  }

  async takePending(): Promise<boolean> {
    // Fenced: a stale holder clearing the mark would hide a callback from the real holder.
    const cleared = await TAKE_PENDING.run(this.redis, [this.keys.lease, this.keys.pending], [this.fenceArg]);
    return cleared === 1;
  }

  async callbackToken(): Promise<CallbackToken | null> {
    const [value, receivedAt] = await this.redis.hmget(this.keys.token, 'value', 'receivedAt');
    if (value == null || receivedAt == null) return null;
    return { value, receivedAt: Number(receivedAt) };
  }

  async cursor(): Promise<string | null> {
    return await this.redis.hget(this.keys.cursor, 'value');
  }

  async commitCursor(cursor: string): Promise<boolean> {
    await this.beforeCommit?.();
    return (await COMMIT_CURSOR.run(this.redis, [this.keys.lease, this.keys.cursor], [this.fenceArg, cursor])) === 1;
  }

  async renew(leaseMs: number): Promise<boolean> {
    return (await RENEW.run(this.redis, [this.keys.lease], [this.fenceArg, toPx(leaseMs)])) === 1;
  }

  async release(): Promise<void> {
    await RELEASE.run(this.redis, [this.keys.lease], [this.fenceArg]);
  }
}
