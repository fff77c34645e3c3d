import type { RedisClient } from './redis-client.js';
import type { CallbackToken, NextPull, SyncCoordinator, SyncLease } from '../sync-coordinator.js';
import { checkPrefix, hashTag, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';
import type { CommitBarrier } from './redis-replica-barrier.js';
import { RelayError } from '../../errors/relay-error.js';

/** Construction options for {@link RedisSyncCoordinator}. */
export interface RedisSyncCoordinatorOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
  /** Clock for callback tokens' receivedAt; default Date.now. */
  now?: () => number;
  /** What every cursor commit goes through: it may refuse one by throwing (until the page's appends are on a replica). */
  barrier?: CommitBarrier;
}

// Keeps a callback's token in the token hash KEYS[2] (ARGV: has-token ('1'/'0'), token, receivedAt), unless a fresher
// one is there: an older callback processed late must not replace it.
const NOTE_TOKEN_LUA = `
if ARGV[1] == '1' then
  local stored = tonumber(redis.call('HGET', KEYS[2], 'receivedAt'))
  if not stored or stored <= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[2], 'value', ARGV[2], 'receivedAt', ARGV[3])
  end
end
`;

// KEYS: pending, token hash, lease; ARGV: has-token ('1'/'0'), token, receivedAt. Returns whether a lease is held (its
// holder sees the mark).
const NOTE_PENDING = new LuaScript(
  'sync-note-pending',
  `
redis.call('SET', KEYS[1], '1')${NOTE_TOKEN_LUA}return redis.call('EXISTS', KEYS[3])
`,
);

// Lua: acquire(lease, fence counter, pending, cursor hash, token hash, lease ms) takes a lease known to be free and
// returns the new fence and, read in the same step, what the holder asks for next: whether a pull was pending (the mark
// is cleared: the holder pulls next, or puts it back when it releases without pulling), the cursor and the callback
// token. Both acquiring scripts end with it.
const ACQUIRE_LUA = `
local function acquire(lease, fence_counter, pending, cursor, token, px)
  local fence = redis.call('INCR', fence_counter)
  redis.call('SET', lease, fence, 'PX', px)
  local stored = redis.call('HMGET', token, 'value', 'receivedAt')
  return {fence, redis.call('DEL', pending), redis.call('HGET', cursor, 'value'), stored[1], stored[2]}
end
`;

// KEYS: lease, fence counter, pending, cursor hash, token hash; ARGV: lease ms. Returns nil while a lease exists, else
// what acquire returns.
const TRY_ACQUIRE = new LuaScript(
  'sync-try-acquire',
  `${ACQUIRE_LUA}if redis.call('EXISTS', KEYS[1]) == 1 then return false end
return acquire(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1])
`,
);

// sync-note-pending and, where no lease exists, sync-try-acquire, in one step: a callback on an idle account costs one
// round trip. KEYS: pending, token hash, lease, fence counter, cursor hash; ARGV: has-token ('1'/'0'), token,
// receivedAt, lease ms. Returns false while a lease exists (the mark set for its holder), else what acquire returns,
// with the pull always pending: the callback just noted is the new holder's to pull (its mark is never set; the holder
// puts it back when it releases without pulling).
const NOTE_AND_TRY_ACQUIRE = new LuaScript(
  'sync-note-and-try-acquire',
  `${NOTE_TOKEN_LUA}${ACQUIRE_LUA}if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('SET', KEYS[1], '1')
  return false
end
local out = acquire(KEYS[3], KEYS[4], KEYS[1], KEYS[5], KEYS[2], ARGV[4])
out[2] = 1
return out
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

// KEYS: lease, cursor hash, pending, token hash; ARGV: fence, cursor, '1' to commit only where the server has no replica
// connected (see CommitBarrier), how long to extend the lease (ms; '' for not at all). Returns {0} when the lease is
// lost, {2, replicas} when asked to check and a replica is connected (nothing is written), else {1} and, as TRY_ACQUIRE
// does, whether a pull was pending (cleared) and the callback token: what the holder asks for next.
const COMMIT_CURSOR = new LuaScript(
  'sync-commit-cursor',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
if ARGV[3] == '1' then
  local replicas = tonumber(string.match(redis.call('INFO', 'replication'), 'connected_slaves:(%d+)')) or 0
  if replicas > 0 then return {2, replicas} end
end
redis.call('HSET', KEYS[2], 'value', ARGV[2], 'fence', ARGV[1])
if ARGV[4] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
local token = redis.call('HMGET', KEYS[4], 'value', 'receivedAt')
return {1, redis.call('DEL', KEYS[3]), token[1], token[2]}
`,
);

// KEYS: lease, pending; ARGV: fence. Takes the pending mark, or gives the lease up where none is set: 1 = pull (taken,
// lease kept), 0 = done (released, nothing pending), 2 = again (the lease was lost, and a pull is pending for whoever
// takes it next).
const TAKE_OR_RELEASE = new LuaScript(
  'sync-take-or-release',
  `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if redis.call('DEL', KEYS[2]) == 1 then return 1 end
  redis.call('DEL', KEYS[1])
  return 0
end
return redis.call('EXISTS', KEYS[2]) == 1 and 2 or 0
`,
);

// KEYS: lease, pending, cursor hash, token hash; ARGV: fence. Clears the pending mark for the pull about to start and
// reads what that pull asks for: {0} when the lease is lost (nothing cleared), else {1, cursor, token, receivedAt}.
const TAKE_GATHERED = new LuaScript(
  'sync-take-gathered',
  `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
redis.call('DEL', KEYS[2])
local token = redis.call('HMGET', KEYS[4], 'value', 'receivedAt')
return {1, redis.call('HGET', KEYS[3], 'value'), token[1], token[2]}
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

// KEYS: lease, pending; ARGV: fence, '1' to set the pending mark again (one the holder cleared and did not pull for).
// Returns whether a pull is pending as the lease goes: the mark is put back even by a holder that lost its lease.
const RELEASE = new LuaScript(
  'sync-release',
  `
if ARGV[2] == '1' then redis.call('SET', KEYS[2], '1') end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('EXISTS', KEYS[2])
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
  private readonly barrier: CommitBarrier | undefined;

  constructor(opts: RedisSyncCoordinatorOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
    this.now = opts.now ?? Date.now;
    this.barrier = opts.barrier;
  }

  async notePending(openKfid: string, callbackToken: string | null): Promise<boolean> {
    const keys = this.keys(openKfid);
    const held = await NOTE_PENDING.run(this.redis, [keys.pending, keys.token, keys.lease], [
      callbackToken === null ? '0' : '1',
      callbackToken ?? '',
      Math.floor(this.now()),
    ]);
    return held === 1;
  }

  async hasPending(openKfid: string): Promise<boolean> {
    return (await this.redis.exists(this.keys(openKfid).pending)) === 1;
  }

  async tryAcquire(openKfid: string, leaseMs: number): Promise<SyncLease | null> {
    const keys = this.keys(openKfid);
    const reply = await TRY_ACQUIRE.run(this.redis, [keys.lease, keys.fence, keys.pending, keys.cursor, keys.token], [toPx(leaseMs)]);
    return this.leaseOf(keys, reply);
  }

  async noteAndTryAcquire(openKfid: string, callbackToken: string | null, leaseMs: number): Promise<SyncLease | null> {
    const keys = this.keys(openKfid);
    const reply = await NOTE_AND_TRY_ACQUIRE.run(this.redis, [keys.pending, keys.token, keys.lease, keys.fence, keys.cursor], [
      callbackToken === null ? '0' : '1',
      callbackToken ?? '',
      Math.floor(this.now()),
      toPx(leaseMs),
    ]);
    return this.leaseOf(keys, reply);
  }

  /** The lease an acquiring script's reply hands out (with what it read ahead), or null where it found one held. */
  private leaseOf(keys: KfKeys, reply: unknown): SyncLease | null {
    if (!Array.isArray(reply)) return null;
    const [fence, cleared, cursor, token, receivedAt] = reply as [number, number, string | null, string | null, string | null];
    const lease = new RedisSyncLease(this.redis, keys, fence, this.barrier);
    lease.prefetched(cleared === 1, tokenOf(token, receivedAt), cursor);
    return lease;
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

/**
 * A holder's lease. The steps that must run anyway (acquiring, committing a cursor) also read what the holder asks
 * for next (the pending mark, the cursor, the callback token), and the last take gives the lease up where nothing is
 * pending, so a callback's pull of one page costs three script calls (note and acquire, commit, take or release), not
 * eleven commands. What was read ahead answers the next ask once; later asks read Redis. A mark cleared ahead is pulled
 * for, or set again when the lease goes.
 */
class RedisSyncLease implements SyncLease {
  private readonly fenceArg: string;
  /** A pending mark this holder cleared that no takePending has reported yet. */
  private taken = false;
  private nextCursor: { value: string | null } | null = null;
  private nextToken: { value: CallbackToken | null } | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KfKeys,
    readonly fence: number,
    private readonly barrier?: CommitBarrier,
  ) {
    this.fenceArg = String(fence);
  }

  /** Keeps what a script read ahead for the holder's next asks. */
  prefetched(cleared: boolean, token: CallbackToken | null, cursor: string | null): void {
    this.taken ||= cleared;
    this.nextToken = { value: token };
    this.nextCursor = { value: cursor };
  }

  async takePending(): Promise<boolean> {
    if (this.taken) {
      this.taken = false;
      return true;
    }
    // Fenced: a stale holder clearing the mark would hide a callback from the real holder.
    const cleared = await TAKE_PENDING.run(this.redis, [this.keys.lease, this.keys.pending], [this.fenceArg]);
    return cleared === 1;
  }

  async callbackToken(): Promise<CallbackToken | null> {
    const known = this.nextToken;
    this.nextToken = null;
    if (known) return known.value;
    const [value, receivedAt] = await this.redis.hmget(this.keys.token, 'value', 'receivedAt');
    return tokenOf(value ?? null, receivedAt ?? null);
  }

  async cursor(): Promise<string | null> {
    const known = this.nextCursor;
    this.nextCursor = null;
    if (known) return known.value;
    return await this.redis.hget(this.keys.cursor, 'value');
  }

  async commitCursor(cursor: string, renewMs?: number): Promise<boolean> {
    const px = renewMs === undefined ? '' : toPx(renewMs);
    let check = (await this.barrier?.beforeCommit()) ?? false;
    let reply = await this.commit(cursor, check, px);
    if (Array.isArray(reply) && reply[0] === 2) {
      // A replica is connected: it is waited on now (the barrier knows of it), then the commit is sent again.
      this.barrier?.replicasFound(Number(reply[1]));
      check = (await this.barrier?.beforeCommit()) ?? false;
      reply = await this.commit(cursor, check, px);
      if (Array.isArray(reply) && reply[0] === 2) throw new RelayError('STATE_NOT_REPLICATED', 'a Redis replica was found after the commit waited on none');
    }
    if (!Array.isArray(reply) || reply[0] !== 1) return false;
    if (check) this.barrier?.replicasFound(0);
    const [, cleared, token, receivedAt] = reply as [number, number, string | null, string | null];
    this.prefetched(cleared === 1, tokenOf(token, receivedAt), cursor);
    return true;
  }

  private commit(cursor: string, check: boolean, px: number | ''): Promise<unknown> {
    return COMMIT_CURSOR.run(this.redis, [this.keys.lease, this.keys.cursor, this.keys.pending, this.keys.token], [this.fenceArg, cursor, check ? '1' : '0', px]);
  }

  async renew(leaseMs: number): Promise<boolean> {
    return (await RENEW.run(this.redis, [this.keys.lease], [this.fenceArg, toPx(leaseMs)])) === 1;
  }

  async release(): Promise<boolean> {
    const restore = this.taken;
    this.taken = false;
    return (await RELEASE.run(this.redis, [this.keys.lease, this.keys.pending], [this.fenceArg, restore ? '1' : '0'])) === 1;
  }

  async takePendingOrRelease(): Promise<NextPull> {
    if (this.taken) {
      this.taken = false;
      return 'pull';
    }
    const next = await TAKE_OR_RELEASE.run(this.redis, [this.keys.lease, this.keys.pending], [this.fenceArg]);
    return next === 1 ? 'pull' : next === 2 ? 'again' : 'done';
  }

  async takeGathered(): Promise<boolean> {
    const reply = await TAKE_GATHERED.run(this.redis, [this.keys.lease, this.keys.pending, this.keys.cursor, this.keys.token], [this.fenceArg]);
    if (!Array.isArray(reply) || reply[0] !== 1) return false;
    const [, cursor, token, receivedAt] = reply as [number, string | null, string | null, string | null];
    // What was cleared is the pull's about to start, not a take still to report; the token may be newer than the one
    // read as the lease was acquired.
    this.prefetched(false, tokenOf(token, receivedAt), cursor);
    return true;
  }
}

function tokenOf(value: string | null, receivedAt: string | null): CallbackToken | null {
  if (value == null || receivedAt == null) return null;
  return { value, receivedAt: Number(receivedAt) };
}
