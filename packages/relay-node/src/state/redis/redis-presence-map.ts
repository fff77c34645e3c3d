import type { RedisClient } from './redis-client.js';
import { RelayError } from '../../errors/relay-error.js';
import type { PresenceEntry, PresenceMap } from '../presence-map.js';
import { checkPrefix, hashTag, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/** Construction options for {@link RedisPresenceMap}. */
export interface RedisPresenceMapOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

// KEYS: the gateway's owner hash {node, gen}; ARGV: node. The generation survives release so that it
// only ever grows. Returns {gen} or {gen, previousNode, previousGen}.
const CLAIM = new LuaScript(
  'presence-claim',
  `
local prevNode = redis.call('HGET', KEYS[1], 'node')
local prevGen = redis.call('HGET', KEYS[1], 'gen')
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'node', ARGV[1])
if prevNode then return {gen, prevNode, tonumber(prevGen)} end
return {gen}
`,
);

/** How long a node's owned-gateway set outlives the node's last heartbeat. */
const OWNED_SET_TTL_MS = 24 * 3600 * 1000;

// KEYS: alive key, owned set; ARGV: ttl ms, owned-set ttl ms. Answers whether the alive key was still there
// (SET ... GET needs Redis 6.2). The owned set outlives a dead node only by a day, then Redis drops it.
const HEARTBEAT = new LuaScript(
  'presence-heartbeat',
  `local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return existed`,
);

// KEYS: owner hash; ARGV: node, generation. Compare-and-delete so a stale release changes nothing.
const RELEASE = new LuaScript(
  'presence-release',
  `
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] and redis.call('HGET', KEYS[1], 'gen') == ARGV[2] then
  redis.call('HDEL', KEYS[1], 'node')
  return 1
end
return 0
`,
);

/**
 * Gateway ownership in Redis. The owner record lives under the gateway's `{gw:<id>}` tag; liveness is
 * a per-node key with a TTL that the node's heartbeat refreshes, so a node killed outright stops owning
 * its gateways once that key expires, with no cleanup. Lookups read the owner and then its alive key
 * (two slots, two commands).
 */
export class RedisPresenceMap implements PresenceMap {
  private readonly redis: RedisClient;
  private readonly prefix: string;

  constructor(opts: RedisPresenceMapOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
  }

  async claim(gatewayId: string, nodeId: string): Promise<{ generation: number; previous: PresenceEntry | null }> {
    const reply = await CLAIM.run(this.redis, [this.ownerKey(gatewayId)], [nodeId]);
    const [generation, prevNode, prevGen] = Array.isArray(reply) ? reply : [];
    if (typeof generation !== 'number') {
      throw new RelayError('INTERNAL', 'presence claim script gave an unexpected reply', { reply: String(reply) });
    }

    let previous: PresenceEntry | null = null;
    if (typeof prevNode === 'string' && typeof prevGen === 'number') {
      // The claimer itself is evidently alive; another node counts only while its heartbeat holds.
      if (prevNode === nodeId || (await this.isAlive(prevNode))) previous = { nodeId: prevNode, generation: prevGen };
      if (prevNode !== nodeId) await this.redis.srem(this.ownedKey(prevNode), gatewayId);
    }
    await this.redis.sadd(this.ownedKey(nodeId), gatewayId);
    return { generation, previous };
  }

  async release(gatewayId: string, nodeId: string, generation: number): Promise<boolean> {
    const released = await RELEASE.run(this.redis, [this.ownerKey(gatewayId)], [nodeId, String(generation)]);
    if (released !== 1) return false;
    await this.redis.srem(this.ownedKey(nodeId), gatewayId);
    return true;
  }

  async lookup(gatewayId: string): Promise<PresenceEntry | null> {
    const [node, gen] = await this.redis.hmget(this.ownerKey(gatewayId), 'node', 'gen');
    if (node == null || gen == null) return null;
    if (!(await this.isAlive(node))) return null;
    return { nodeId: node, generation: Number(gen) };
  }

  async heartbeat(nodeId: string, ttlMs: number): Promise<boolean> {
    const keys = [this.aliveKey(nodeId), this.ownedKey(nodeId)];
    return (await HEARTBEAT.run(this.redis, keys, [toPx(ttlMs), OWNED_SET_TTL_MS])) === 1;
  }

  async countOwnedBy(nodeId: string): Promise<number> {
    // The set is not cleaned when a node dies; a dead node holds nothing, whatever the set says.
    if (!(await this.isAlive(nodeId))) return 0;
    return await this.redis.scard(this.ownedKey(nodeId));
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }

  private async isAlive(nodeId: string): Promise<boolean> {
    return (await this.redis.exists(this.aliveKey(nodeId))) === 1;
  }

  private ownerKey(gatewayId: string): string {
    return `${this.prefix}${hashTag('gw', gatewayId)}:owner`;
  }

  private aliveKey(nodeId: string): string {
    return `${this.prefix}${hashTag('node', nodeId)}:alive`;
  }

  private ownedKey(nodeId: string): string {
    return `${this.prefix}${hashTag('node', nodeId)}:owned`;
  }
}
