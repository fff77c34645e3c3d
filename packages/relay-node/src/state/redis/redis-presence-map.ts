import type { RedisClient } from './redis-client.js';
import { RelayError } from '../../errors/relay-error.js';
import { isRecentBeat, type ConnectionDetails, type NodeLoad, type PresenceEntry, type PresenceMap } from '../presence-map.js';
import { checkPrefix, clientKeyPrefix, hashTag, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';
import { isClusterClient } from './redis-client.js';
import { TickBatch } from './tick-batch.js';

/** Construction options for {@link RedisPresenceMap}. */
export interface RedisPresenceMapOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
  /**
   * How long a gateway's owner record outlives its last claim or refresh; default a day. The owner's heartbeat
   * refreshes the records of the gateways it holds every quarter of this, so only abandoned records expire.
   */
  ownerTtlMs?: number;
  now?: () => number;
}

// KEYS: the gateway's owner hash {node, gen}; ARGV: node, owner ttl ms. The generation survives release so
// that it grows for as long as anyone uses the gateway; a record nobody claimed or refreshed for the ttl (a
// gateway that never came back) expires. Returns {gen} or {gen, previousNode, previousGen}.
const CLAIM = new LuaScript(
  'presence-claim',
  `
local prevNode = redis.call('HGET', KEYS[1], 'node')
local prevGen = redis.call('HGET', KEYS[1], 'gen')
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HSET', KEYS[1], 'node', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if prevNode then return {gen, prevNode, tonumber(prevGen)} end
return {gen}
`,
);

// KEYS: owner hash; ARGV: node, owner ttl ms. Extends the record only while this node still owns it, so a node
// that lost a gateway cannot keep the new owner's record alive (nor an abandoned one).
const REFRESH_OWNER = new LuaScript(
  'presence-refresh-owner',
  `
if redis.call('HGET', KEYS[1], 'node') == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`,
);

/** Default lifetime of an owner record without a claim or refresh. */
const OWNER_TTL_MS = 24 * 3600 * 1000;

/** How long a node's owned-gateway set outlives the node's last heartbeat. */
const OWNED_SET_TTL_MS = 24 * 3600 * 1000;

// KEYS: alive key, owned set; ARGV: ttl ms, owned-set ttl ms. Answers whether the alive key was still there
// (SET ... GET needs Redis 6.2). The alive key holds the ttl it was given, so a reader tells from its PTTL how
// long ago the node beat, on the server's clock. The owned set outlives a dead node only by a day, then Redis
// drops it.
const HEARTBEAT = new LuaScript(
  'presence-heartbeat',
  `local existed = redis.call('EXISTS', KEYS[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[1])
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
 * Lua: `live_owner(owner key, alive key start, alive key end)` gives a gateway's owner node and generation, or false and
 * false where the record is absent or the node's alive key is gone. The alive keys are named in the script, not passed
 * in (the owners are not known before), which one server allows; each node's is checked once per script call however
 * many gateways it holds. For scripts that run on one server.
 */
export const LIVE_OWNER_LUA = `
local live_nodes = {}
local function live_owner(key, alive_start, alive_end)
  local v = redis.call('HMGET', key, 'node', 'gen')
  local node = v[1]
  if not (node and v[2]) then return false, false end
  local live = live_nodes[node]
  if live == nil then
    live = redis.call('EXISTS', alive_start .. node .. alive_end) == 1
    live_nodes[node] = live
  end
  if not live then return false, false end
  return node, v[2]
end
`;

// KEYS: owner records of many gateways, in any slots (one server only); ARGV: how an alive key's name starts and ends
// around the node id (the client's key prefix included). Returns node and gen of each, false where absent or where
// the node's alive key is gone.
const OWNERS = new LuaScript(
  'presence-live-owners',
  `${LIVE_OWNER_LUA}
local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1], out[2 * i] = live_owner(key, ARGV[1], ARGV[2])
end
return out
`,
);

// KEYS: alive key, owned set of one node (one slot); returns false when the node is not alive, else the alive
// key's remaining ttl, its value (the ttl the last beat gave) and the number of gateways the node holds.
const NODE_LOAD = new LuaScript(
  'presence-node-load',
  `
local left = redis.call('PTTL', KEYS[1])
if left == -2 then return false end
return {left, redis.call('GET', KEYS[1]), redis.call('SCARD', KEYS[2])}
`,
);

// KEYS: owner hash; ARGV: generation, details JSON. Written beside the owner so it goes when a newer claim does.
const DESCRIBE = new LuaScript(
  'presence-describe',
  `
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] or not redis.call('HGET', KEYS[1], 'node') then return 0 end
redis.call('HSET', KEYS[1], 'conn', ARGV[2])
return 1
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
  private readonly ownerTtlMs: number;
  private readonly now: () => number;
  /** When this node last refreshed the owner records of the gateways it holds. */
  private lastOwnerRefresh = Number.NEGATIVE_INFINITY;
  /**
   * On one server, lookups made side by side (a page's gateways) read their owner records, and each distinct owner's
   * alive key once, with one script. A Redis Cluster keeps one owner read per gateway (the records sit in their own
   * slots) and shares the liveness reads (see {@link liveness}).
   */
  private readonly owners: TickBatch<string, PresenceEntry | null> | null;
  /**
   * Where lookups are not batched whole (a Redis Cluster), the liveness reads of lookups whose owner records came back
   * in the same turn: a page's hundred gateways are owned by a handful of nodes, so each node's alive key is read once
   * for all of them, not once per gateway. Each read still goes out after every owner record it answers for was read,
   * as a lookup's own would.
   */
  private readonly liveness = new TickBatch<string, boolean>((nodeIds) => this.aliveMany(nodeIds));
  /** An alive key's full name (the client's key prefix included) on either side of the node id, for {@link LIVE_OWNER_LUA}. */
  readonly aliveKeyAround: readonly [start: string, end: string];

  constructor(opts: RedisPresenceMapOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
    this.ownerTtlMs = opts.ownerTtlMs ?? OWNER_TTL_MS;
    this.now = opts.now ?? Date.now;
    this.owners = isClusterClient(this.redis) ? null : new TickBatch((gatewayIds) => this.lookupMany(gatewayIds));
    const [start, end] = this.aliveKey('\n').split('\n') as [string, string];
    this.aliveKeyAround = [clientKeyPrefix(this.redis) + start, end];
  }

  async claim(gatewayId: string, nodeId: string): Promise<{ generation: number; previous: PresenceEntry | null }> {
    const reply = await CLAIM.run(this.redis, [this.ownerKey(gatewayId)], [nodeId, toPx(this.ownerTtlMs)]);
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
    if (this.owners) return await this.owners.add(gatewayId);
    const [node, gen] = await this.redis.hmget(this.ownerKey(gatewayId), 'node', 'gen');
    if (node == null || gen == null) return null;
    if (!(await this.liveness.add(node))) return null;
    return { nodeId: node, generation: Number(gen) };
  }

  async heartbeat(nodeId: string, ttlMs: number, held?: readonly string[]): Promise<boolean> {
    const keys = [this.aliveKey(nodeId), this.ownedKey(nodeId)];
    const remembered = (await HEARTBEAT.run(this.redis, keys, [toPx(ttlMs), OWNED_SET_TTL_MS])) === 1;
    // The roster of nodes ever seen, so operators and rebalancing can list the live ones without scanning keys;
    // a node unseen for as long as its owned set lives is dropped from it.
    const now = this.now();
    await this.redis.multi().zadd(this.knownKey(), now, nodeId).zremrangebyscore(this.knownKey(), '-inf', now - OWNED_SET_TTL_MS).exec();
    // A refresh that fails is tried again at the next beat; the alive key above is what this beat is for.
    if (held) await this.refreshOwners(nodeId, held).catch(() => undefined);
    return remembered;
  }

  /**
   * Extends the owner records of the gateways this node holds, a quarter of their lifetime at a time (one
   * command per gateway, so not on every beat). A failed refresh is tried again at the next beat.
   */
  private async refreshOwners(nodeId: string, held: readonly string[]): Promise<void> {
    const now = this.now();
    if (now - this.lastOwnerRefresh < this.ownerTtlMs / 4) return;
    const ttl = toPx(this.ownerTtlMs);
    // Owner records sit in different slots: one single-key script each, pipelined together.
    await Promise.all(held.map((gatewayId) => REFRESH_OWNER.run(this.redis, [this.ownerKey(gatewayId)], [nodeId, ttl])));
    this.lastOwnerRefresh = now;
  }

  async liveNodes(): Promise<NodeLoad[]> {
    const known = await this.redis.zrange(this.knownKey(), 0, -1);
    if (known.length === 0) return [];
    // Each node's keys sit in a slot of their own (a cluster refuses one pipeline across slots): one script per
    // node, sent side by side (auto-pipelined per server where enabled).
    const loads = await Promise.all(
      known.map(async (nodeId): Promise<NodeLoad | null> => {
        const reply = await NODE_LOAD.run(this.redis, [this.aliveKey(nodeId), this.ownedKey(nodeId)], []);
        if (!Array.isArray(reply)) return null;
        const [left, given, count] = reply as [number, string | null, number];
        const ttl = Number(given);
        // A node of the previous version stores '1' there: a ttl shorter than what is left, so a negative age, and
        // the node counts as recent, as every live node did before.
        return { nodeId, gateways: Number(count), fresh: isRecentBeat(ttl - left, ttl) };
      }),
    );
    const nodes = loads.filter((n): n is NodeLoad => n !== null);
    return nodes.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  async ownedBy(nodeId: string): Promise<string[]> {
    if (!(await this.isAlive(nodeId))) return [];
    return (await this.redis.smembers(this.ownedKey(nodeId))).sort();
  }

  async describe(gatewayId: string, generation: number, details: ConnectionDetails): Promise<void> {
    const json = JSON.stringify({ gen: generation, since: details.since, dialect: details.dialect, delivery: details.delivery });
    await DESCRIBE.run(this.redis, [this.ownerKey(gatewayId)], [String(generation), json]);
  }

  async details(gatewayId: string): Promise<{ owner: PresenceEntry; details: ConnectionDetails | null } | null> {
    const [node, gen, conn] = await this.redis.hmget(this.ownerKey(gatewayId), 'node', 'gen', 'conn');
    if (node == null || gen == null || !(await this.isAlive(node))) return null;
    const owner = { nodeId: node, generation: Number(gen) };
    return { owner, details: parseConnection(conn ?? null, owner.generation) };
  }

  async countOwnedBy(nodeId: string): Promise<number> {
    // The set is not cleaned when a node dies; a dead node holds nothing, whatever the set says.
    if (!(await this.isAlive(nodeId))) return 0;
    return await this.redis.scard(this.ownedKey(nodeId));
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }

  /** The owners of many gateways, each alive node checked once: one script call, one round trip. */
  private async lookupMany(gatewayIds: string[]): Promise<Array<PresenceEntry | null>> {
    const keys = gatewayIds.map((id) => this.ownerKey(id));
    const reply = (await OWNERS.run(this.redis, keys, [...this.aliveKeyAround])) as Array<string | null>;
    if (!Array.isArray(reply) || reply.length !== 2 * gatewayIds.length) throw new RelayError('INTERNAL', 'owners script gave an unexpected reply', { gateways: gatewayIds.length });
    return gatewayIds.map((_, i) => {
      const node = reply[2 * i];
      const gen = reply[2 * i + 1];
      if (node == null || gen == null) return null;
      return { nodeId: node, generation: Number(gen) };
    });
  }

  /** Whether each node is alive, its alive key read once however often it is named (the keys sit in their own slots). */
  private async aliveMany(nodeIds: string[]): Promise<boolean[]> {
    const distinct = [...new Set(nodeIds)];
    const alive = await Promise.all(distinct.map((nodeId) => this.isAlive(nodeId)));
    const byNode = new Map(distinct.map((nodeId, i) => [nodeId, alive[i]!]));
    return nodeIds.map((nodeId) => byNode.get(nodeId)!);
  }

  private async isAlive(nodeId: string): Promise<boolean> {
    return (await this.redis.exists(this.aliveKey(nodeId))) === 1;
  }

  /** The key of a gateway's owner record, for a script that reads it with {@link LIVE_OWNER_LUA}. */
  ownerKey(gatewayId: string): string {
    return `${this.prefix}${hashTag('gw', gatewayId)}:owner`;
  }

  private knownKey(): string {
    return `${this.prefix}{nodes}:known`;
  }

  private aliveKey(nodeId: string): string {
    return `${this.prefix}${hashTag('node', nodeId)}:alive`;
  }

  private ownedKey(nodeId: string): string {
    return `${this.prefix}${hashTag('node', nodeId)}:owned`;
  }
}

/** Details recorded for this generation, or null (none recorded, an older connection's, or unreadable). */
function parseConnection(raw: string | null, generation: number): ConnectionDetails | null {
  if (raw == null) return null;
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    if (v.gen !== generation || typeof v.since !== 'number' || typeof v.dialect !== 'string' || typeof v.delivery !== 'string') return null;
    return { since: v.since, dialect: v.dialect, delivery: v.delivery };
  } catch {
    return null;
  }
}
