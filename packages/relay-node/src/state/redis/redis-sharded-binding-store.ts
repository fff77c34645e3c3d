import { RelayError } from '../../errors/relay-error.js';
import type { BindingEventOrder, BindingStore, OrderedBindOutcome } from '../binding-store.js';
import { checkPrefix, clientKeyPrefix, hashTag } from './keyspace.js';
import { LuaScript } from './lua-script.js';
import { isClusterClient, type RedisClient } from './redis-client.js';

/** Construction options for {@link RedisShardedBindingStore}. */
export interface RedisShardedBindingStoreOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

// KEYS: the user's binding hash {gw, seq}; ARGV: gateway. seq only grows, so every bind is ordered.
// Returns {seq, previous gateway or false}.
const BIND = new LuaScript(
  'sharded-binding-bind',
  `local prev = redis.call('HGET', KEYS[1], 'gw')
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'gw', ARGV[1])
return {seq, prev}`,
);

// KEYS: a gateway's index hash user → seq; ARGV: user, seq. A late write of an older bind never replaces a newer one.
const INDEX_ADD = new LuaScript(
  'sharded-binding-index-add',
  `local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if cur < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1`,
);

// KEYS: a gateway's index; ARGV: user, seq. Drops the entry only if no bind newer than seq wrote it.
const INDEX_DROP = new LuaScript(
  'sharded-binding-index-drop',
  `local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if cur ~= 0 and cur <= tonumber(ARGV[2]) then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`,
);

// KEYS: the user's binding hash; ARGV: gateway. Unbinds only if still bound there; seq stays so order survives.
// Returns the user's seq when unbound, else 0.
const UNBIND_IF = new LuaScript(
  'sharded-binding-unbind-if',
  `if redis.call('HGET', KEYS[1], 'gw') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'gw')
return tonumber(redis.call('HGET', KEYS[1], 'seq'))`,
);

// KEYS: the user's binding hash {gw, seq, order, kf}; ARGV: gateway, send_time, msgid, open_kfid ('' = none). `order`
// is the last binding event applied ("<send_time>:<msgid>"), kept through unbind and unbindAll like the
// {bindings}:order hash; `kf` the account that event came in on.
// Returns {outcome, seq or 0, previous gateway or false}.
const BIND_IN_ORDER = new LuaScript(
  'sharded-binding-bind-in-order',
  `local prev = redis.call('HGET', KEYS[1], 'gw')
local stored = redis.call('HGET', KEYS[1], 'order')
if stored then
  local at, event = string.match(stored, '^(%d+):(.*)$')
  if tonumber(at) > tonumber(ARGV[2]) then return {'stale', 0, prev} end
  if tonumber(at) == tonumber(ARGV[2]) and event == ARGV[3] then return {'repeat', 0, prev} end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'gw', ARGV[1], 'order', ARGV[2] .. ':' .. ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'kf', ARGV[4]) else redis.call('HDEL', KEYS[1], 'kf') end
return {'bound', seq, prev}`,
);

// KEYS: the user's binding hash. Unbinds wherever bound; seq and order stay. Returns {previous gateway, seq} or false.
const UNBIND = new LuaScript(
  'sharded-binding-unbind',
  `local prev = redis.call('HGET', KEYS[1], 'gw')
if not prev then return false end
redis.call('HDEL', KEYS[1], 'gw')
return {prev, tonumber(redis.call('HGET', KEYS[1], 'seq'))}`,
);

/**
 * Bindings spread over the whole keyspace, for a Redis Cluster: each user's binding sits under the user's own
 * `{user:<id>}` tag, and each gateway keeps an index (user → bind sequence) under its `{gw:<id>}` tag, so no shard
 * holds all bindings and listing a gateway's users reads one hash. The user's record is the truth; the index is
 * kept a superset by writing it before the record moves, and every read of it is checked against the records.
 * Sequence numbers make late index writes and removals harmless when binds of one user race.
 */
export class RedisShardedBindingStore implements BindingStore {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(opts: RedisShardedBindingStoreOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
  }

  async gatewayFor(externalUserId: string): Promise<string | null> {
    return await this.redis.hget(this.userKey(externalUserId), 'gw');
  }

  async accountOf(externalUserId: string): Promise<string | null> {
    const [gateway, account] = await this.redis.hmget(this.userKey(externalUserId), 'gw', 'kf');
    return gateway == null ? null : (account ?? null);
  }

  async bind(externalUserId: string, gatewayId: string): Promise<string | null> {
    // The index entry goes in before the record moves (with the seq this bind expects to get), so a crash in
    // between leaves at worst an extra entry, which reads filter out, never a bound user missing from the index.
    const userKey = this.userKey(externalUserId);
    const indexKey = this.indexKey(gatewayId);
    const expected = Number((await this.redis.hget(userKey, 'seq')) ?? '0') + 1;
    await INDEX_ADD.run(this.redis, [indexKey], [externalUserId, expected]);
    const reply = await BIND.run(this.redis, [userKey], [gatewayId]);
    const [seq, prev] = Array.isArray(reply) ? reply : [];
    if (typeof seq !== 'number') throw new RelayError('INTERNAL', 'binding script gave an unexpected reply');
    // Again with the real seq: a racing bind may have taken the expected one, or an unbindAll dropped the entry.
    await INDEX_ADD.run(this.redis, [indexKey], [externalUserId, seq]);
    const previous = typeof prev === 'string' ? prev : null;
    if (previous !== null && previous !== gatewayId) {
      await INDEX_DROP.run(this.redis, [this.indexKey(previous)], [externalUserId, seq - 1]);
    }
    return previous;
  }

  async bindInOrder(
    externalUserId: string,
    gatewayId: string,
    order: BindingEventOrder,
  ): Promise<{ outcome: OrderedBindOutcome; previous: string | null }> {
    const userKey = this.userKey(externalUserId);
    const at = Math.max(0, Math.floor(order.at));
    // An event already older than (or equal to) the one applied stays so (the stored order only grows): it is
    // answered from this read without touching the index.
    const [seqNow, gwNow, stored] = await this.redis.hmget(userKey, 'seq', 'gw', 'order');
    const early = orderedOutcome(stored ?? null, at, order.eventId);
    if (early !== 'bound') return { outcome: early, previous: gwNow ?? null };
    const indexKey = this.indexKey(gatewayId);
    // As in bind(): the index entry first, so a bound user is never missing from it.
    await INDEX_ADD.run(this.redis, [indexKey], [externalUserId, Number(seqNow ?? '0') + 1]);
    const reply = await BIND_IN_ORDER.run(this.redis, [userKey], [gatewayId, at, order.eventId, order.openKfid ?? '']);
    const [outcome, seq, prev] = Array.isArray(reply) ? reply : [];
    if (outcome !== 'bound' && outcome !== 'stale' && outcome !== 'repeat') {
      throw new RelayError('INTERNAL', 'binding script gave an unexpected reply');
    }
    const previous = typeof prev === 'string' ? prev : null;
    // A newer event won the race: the entry written above is an extra one, which reads filter out.
    if (outcome !== 'bound' || typeof seq !== 'number') return { outcome, previous };
    await INDEX_ADD.run(this.redis, [indexKey], [externalUserId, seq]);
    if (previous !== null && previous !== gatewayId) {
      await INDEX_DROP.run(this.redis, [this.indexKey(previous)], [externalUserId, seq - 1]);
    }
    return { outcome, previous };
  }

  async unbind(externalUserId: string): Promise<string | null> {
    const reply = await UNBIND.run(this.redis, [this.userKey(externalUserId)], []);
    if (!Array.isArray(reply)) return null;
    const [prev, seq] = reply;
    if (typeof prev !== 'string') return null;
    // The record is the truth; the index entry goes after it, as far as this unbind reaches.
    if (typeof seq === 'number') await INDEX_DROP.run(this.redis, [this.indexKey(prev)], [externalUserId, seq]);
    return prev;
  }

  async usersOf(gatewayId: string): Promise<string[]> {
    const index = await this.redis.hgetall(this.indexKey(gatewayId));
    const users = Object.keys(index);
    // Auto-pipelined: one round trip per shard, however many users.
    const bound = await Promise.all(users.map((u) => this.gatewayFor(u)));
    return users.filter((_, i) => bound[i] === gatewayId);
  }

  async unbindAll(gatewayId: string): Promise<string[]> {
    const index = await this.redis.hgetall(this.indexKey(gatewayId));
    const unbound: string[] = [];
    await Promise.all(
      Object.entries(index).map(async ([user, indexedSeq]) => {
        const seq = await UNBIND_IF.run(this.redis, [this.userKey(user)], [gatewayId]);
        if (typeof seq === 'number' && seq > 0) unbound.push(user);
        // Drop the entry as far as this unbind (or the stale bind it recorded) reaches; a newer bind keeps its own.
        const upTo = typeof seq === 'number' && seq > 0 ? seq : Number(indexedSeq);
        await INDEX_DROP.run(this.redis, [this.indexKey(gatewayId)], [user, upTo]);
      }),
    );
    return unbound;
  }

  async *entries(): AsyncIterable<[string, string]> {
    // Export and migration only: SCAN every master (one server outside a cluster) for user records.
    const servers = isClusterClient(this.redis) ? this.redis.nodes('master') : [this.redis];
    const keyPrefix = clientKeyPrefix(this.redis);
    const head = `${keyPrefix}${this.prefix}{user:`;
    const tail = '}:binding';
    const pattern = `${escapeGlob(head)}*${escapeGlob(tail)}`;
    const seen = new Set<string>();
    for (const server of servers) {
      let cursor = '0';
      do {
        const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
        cursor = next;
        for (const raw of keys) {
          const user = raw.slice(head.length, raw.length - tail.length);
          if (seen.has(user)) continue;
          const gateway = await this.gatewayFor(user);
          if (gateway === null) continue;
          seen.add(user);
          yield [user, gateway];
        }
      } while (cursor !== '0');
    }
  }

  async close(): Promise<void> {
    // Nothing of its own to release: the client belongs to the caller.
  }

  private userKey(user: string): string {
    return `${this.prefix}${hashTag('user', user)}:binding`;
  }

  private indexKey(gatewayId: string): string {
    return `${this.prefix}${hashTag('gw', gatewayId)}:users`;
  }
}

/** What bindInOrder would answer given the stored "<send_time>:<msgid>" of the last event applied. */
function orderedOutcome(stored: string | null, at: number, eventId: string): OrderedBindOutcome {
  if (stored === null) return 'bound';
  const colon = stored.indexOf(':');
  const storedAt = Number(stored.slice(0, colon));
  if (storedAt > at) return 'stale';
  if (storedAt === at && stored.slice(colon + 1) === eventId) return 'repeat';
  return 'bound';
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
