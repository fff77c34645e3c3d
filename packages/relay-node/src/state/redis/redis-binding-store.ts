import type { RedisClient } from './redis-client.js';
import type { BindingEventOrder, BindingStore, OrderedBindOutcome } from '../binding-store.js';
import { checkPrefix, clientKeyPrefix } from './keyspace.js';
import { LuaScript } from './lua-script.js';
import { TickBatch } from './tick-batch.js';

/** Construction options for {@link RedisBindingStore}. */
export interface RedisBindingStoreOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

// KEYS[1] users hash, KEYS[2] target gateway's user set; ARGV: user, gateway, gateway-set key prefix.
// The previous gateway's set is named from ARGV because it is only known inside the script; it shares
// the {bindings} tag, so it is in the same slot.
const BIND = new LuaScript(
  'binding-bind',
  `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev and prev ~= ARGV[2] then
  redis.call('SREM', ARGV[3] .. prev, ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return prev
`,
);

// KEYS[1] users hash, KEYS[2] target gateway's user set, KEYS[3] order hash (user → "<send_time>:<msgid>", kept by
// UNBIND_ALL on purpose), KEYS[4] account hash (user → open_kfid of the binding event); ARGV: user, gateway,
// gateway-set key prefix, send_time, msgid, open_kfid ('' = none recorded). Returns {outcome, previous}.
const BIND_IN_ORDER = new LuaScript(
  'binding-bind-in-order',
  `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
local stored = redis.call('HGET', KEYS[3], ARGV[1])
if stored then
  local at, event = string.match(stored, '^(%d+):(.*)$')
  if tonumber(at) > tonumber(ARGV[4]) then return {'stale', prev} end
  if tonumber(at) == tonumber(ARGV[4]) and event == ARGV[5] then return {'repeat', prev} end
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[4] .. ':' .. ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[4], ARGV[1], ARGV[6]) else redis.call('HDEL', KEYS[4], ARGV[1]) end
if prev and prev ~= ARGV[2] then
  redis.call('SREM', ARGV[3] .. prev, ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return {'bound', prev}
`,
);

// KEYS[1] users hash, KEYS[2] the gateway's user set; ARGV[1] gateway. A user whose hash entry points
// elsewhere was moved and is left alone.
const UNBIND_ALL = new LuaScript(
  'binding-unbind-all',
  `
local users = redis.call('SMEMBERS', KEYS[2])
local unbound = {}
for _, user in ipairs(users) do
  if redis.call('HGET', KEYS[1], user) == ARGV[1] then
    redis.call('HDEL', KEYS[1], user)
    unbound[#unbound + 1] = user
  end
end
redis.call('DEL', KEYS[2])
return unbound
`,
);

// KEYS[1] users hash; ARGV: user, gateway-set key prefix. Returns the gateway the user was bound to, if any.
const UNBIND = new LuaScript(
  'binding-unbind',
  `
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if not prev then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', ARGV[2] .. prev, ARGV[1])
return prev
`,
);

/**
 * Bindings in Redis: one hash user → gateway plus one set of users per gateway, all under the
 * `{bindings}` hash tag so that moving a user between gateways and unbinding a gateway are single
 * atomic scripts.
 */
export class RedisBindingStore implements BindingStore {
  private readonly redis: RedisClient;
  private readonly base: string;
  /** Lookups made side by side (a pulled page's users) go out as one HMGET. */
  private readonly lookups = new TickBatch<string, string | null>((users) => this.redis.hmget(this.usersKey(), ...users));

  constructor(opts: RedisBindingStoreOptions) {
    this.redis = opts.redis;
    this.base = `${checkPrefix(opts.prefix)}{bindings}:`;
  }

  async gatewayFor(externalUserId: string): Promise<string | null> {
    return await this.lookups.add(externalUserId);
  }

  async bind(externalUserId: string, gatewayId: string): Promise<string | null> {
    const setPrefix = clientKeyPrefix(this.redis) + this.base + 'gw:';
    const prev = await BIND.run(this.redis, [this.usersKey(), this.gatewayKey(gatewayId)], [
      externalUserId,
      gatewayId,
      setPrefix,
    ]);
    return typeof prev === 'string' ? prev : null;
  }

  async bindInOrder(
    externalUserId: string,
    gatewayId: string,
    order: BindingEventOrder,
  ): Promise<{ outcome: OrderedBindOutcome; previous: string | null }> {
    const setPrefix = clientKeyPrefix(this.redis) + this.base + 'gw:';
    const [outcome, previous] = (await BIND_IN_ORDER.run(
      this.redis,
      [this.usersKey(), this.gatewayKey(gatewayId), `${this.base}order`, `${this.base}account`],
      [externalUserId, gatewayId, setPrefix, Math.max(0, Math.floor(order.at)), order.eventId, order.openKfid ?? ''],
    )) as [OrderedBindOutcome, string | null | undefined];
    return { outcome, previous: typeof previous === 'string' ? previous : null };
  }

  async accountOf(externalUserId: string): Promise<string | null> {
    // The account hash outlives an unbind (like the order hash): only a bound user has an account.
    const [gateway, account] = await Promise.all([this.gatewayFor(externalUserId), this.redis.hget(`${this.base}account`, externalUserId)]);
    return gateway === null ? null : account;
  }

  async usersOf(gatewayId: string): Promise<string[]> {
    return await this.redis.smembers(this.gatewayKey(gatewayId));
  }

  async unbind(externalUserId: string): Promise<string | null> {
    const setPrefix = clientKeyPrefix(this.redis) + this.base + 'gw:';
    const prev = await UNBIND.run(this.redis, [this.usersKey()], [externalUserId, setPrefix]);
    return typeof prev === 'string' ? prev : null;
  }

  async unbindAll(gatewayId: string): Promise<string[]> {
    const result = await UNBIND_ALL.run(this.redis, [this.usersKey(), this.gatewayKey(gatewayId)], [gatewayId]);
    return Array.isArray(result) ? result.filter((u): u is string => typeof u === 'string') : [];
  }

  async *entries(): AsyncIterable<[string, string]> {
    // HSCAN may repeat an entry while the hash is rehashed; an export must not list a user twice.
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.usersKey(), cursor, 'COUNT', 500);
      cursor = next;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const user = flat[i] as string;
        if (seen.has(user)) continue;
        seen.add(user);
        yield [user, flat[i + 1] as string];
      }
    } while (cursor !== '0');
  }

  async close(): Promise<void> {
    // Nothing of its own to release: the client belongs to the caller.
  }

  /** The hash whose field `<user>` holds the user's gateway, for scripts that check a binding themselves. */
  usersKey(): string {
    return `${this.base}users`;
  }

  private gatewayKey(gatewayId: string): string {
    return `${this.base}gw:${gatewayId}`;
  }
}
