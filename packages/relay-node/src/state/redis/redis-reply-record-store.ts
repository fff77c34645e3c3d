import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.js';
import type { ReplyClaim, ReplyKey, ReplyRecord, ReplyRecordStore } from '../reply-record-store.js';
import { checkPrefix, hashTag, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';

// KEYS: record; ARGV: claim value, claim ttl (ms). SET NX that also hands back what was there instead.
const CLAIM = new LuaScript(
  'reply-claim',
  `local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false`,
);

// KEYS: record; ARGV: claim value, claim ttl (ms). Only the claim's owner may extend it.
const EXTEND = new LuaScript(
  'reply-extend',
  `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`,
);

// KEYS: record; ARGV: claim value. Only the claim's owner may drop it; a completed record stays.
const RELEASE = new LuaScript(
  'reply-release',
  `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
);

/** Construction options for {@link RedisReplyRecordStore}. */
export interface RedisReplyRecordStoreOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

/** One string key per reply, beside the gateway's other keys: a claim (`p:<owner>`) or the record's JSON. */
export class RedisReplyRecordStore implements ReplyRecordStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(opts: RedisReplyRecordStoreOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
  }

  async claim(key: ReplyKey, owner: string, claimTtlMs: number): Promise<ReplyClaim> {
    const existing = (await CLAIM.run(this.redis, [this.keyOf(key)], [claimValue(owner), toPx(claimTtlMs)])) as string | null;
    if (existing === null) return { state: 'claimed' };
    if (existing.startsWith('p:')) return { state: 'in_flight' };
    const record = parseRecord(existing);
    // A value this relay did not write: count it as in flight; it expires like any claim would not, so say so.
    return record ? { state: 'done', record } : { state: 'in_flight' };
  }

  async extend(key: ReplyKey, owner: string, claimTtlMs: number): Promise<boolean> {
    return (await EXTEND.run(this.redis, [this.keyOf(key)], [claimValue(owner), toPx(claimTtlMs)])) === 1;
  }

  async complete(key: ReplyKey, record: ReplyRecord, ttlMs: number): Promise<void> {
    await this.redis.set(this.keyOf(key), JSON.stringify(record), 'PX', toPx(ttlMs));
  }

  async release(key: ReplyKey, owner: string): Promise<void> {
    await RELEASE.run(this.redis, [this.keyOf(key)], [claimValue(owner)]);
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }

  private keyOf(key: ReplyKey): string {
    // Request ids are up to 256 characters of anything; a digest keeps the key short and free of odd bytes.
    const digest = createHash('sha256').update(JSON.stringify([key.requestId, key.fingerprint])).digest('base64url');
    return `${this.prefix}${hashTag('gw', key.gatewayId)}:reply:${digest}`;
  }
}

function claimValue(owner: string): string {
  return `p:${owner}`;
}

function parseRecord(raw: string): ReplyRecord | null {
  try {
    const v = JSON.parse(raw) as Partial<ReplyRecord>;
    if (Array.isArray(v.msgids) && v.msgids.every((m) => typeof m === 'string') && typeof v.partsTotal === 'number') {
      return v as ReplyRecord;
    }
  } catch {
    // Not ours.
  }
  return null;
}
