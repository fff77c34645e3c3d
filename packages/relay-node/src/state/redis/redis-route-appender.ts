import { RelayError } from '../../errors/relay-error.js';
import type { RouteAppendEntry, RouteAppender, RouteAppendResult } from '../route-appender.js';
import { LuaScript } from './lua-script.js';
import { isClusterClient, type RedisClient } from './redis-client.js';
import type { RedisDedupStore } from './redis-dedup-store.js';
import { STREAM_APPEND_LUA, type RedisDeliveryQueue } from './redis-delivery-queue.js';
import { streamIdMillis } from './stream-id.js';
import { PACKED_TREE_LUA, packedFieldArg } from './packed-tree.js';
import { LIVE_OWNER_LUA, type RedisPresenceMap } from './redis-presence-map.js';

// One server only (the keys of many gateways and minutes). KEYS per entry: the decision's packed root, the decision
// key a relay before packing wrote, the gateway's stream, its marker hour root, the marker key a relay before packing
// wrote, the gateway's owner record. ARGV: the decision tree's expiry, the marker tree's expiry, the queue idle ttl, how
// an alive key's name starts and ends around the node id, then per entry: the decision tree's base, the decision field
// and the marker field (both as packedFieldArg gives them), the gateway id, the event JSON, and '1' where the stream's
// expiry is to be set again ('' where the caller set it lately: see ExpiryRefreshes). A stream the call creates gets its
// expiry whatever the flag says. Returns per entry the decision
// that stands, the new queue id ('' when nothing was appended), the id of the entry the stream ended with just before it
// was appended ('' when the stream was empty or nothing was appended) and, where the decision that stands is for the
// entry's gateway, that gateway's live owner node and generation (false when it has none; 0 and 0 where not read), read
// after every append, so a gateway that moves in between is served by its new node either way. A decision is read as
// dedup-decide-packed-trees reads it (the old key first); a new one is `=<gateway>` written in the same step as its
// XADD, so no marker is needed; a standing `><gateway>` of the entry's own gateway is appended unless its marker stands,
// as queue-append-many does it.
const DECIDE_AND_APPEND = new LuaScript(
  'route-decide-append',
  `${PACKED_TREE_LUA}${LIVE_OWNER_LUA}${STREAM_APPEND_LUA}
local out = {}
local seen = tree_seen()
local dpx = tonumber(ARGV[1])
local mpx = tonumber(ARGV[2])
-- The last id of each stream appended to: the entry before the next one this call appends.
local tails = {}
local function tail(stream)
  if tails[stream] == nil then tails[stream] = stream_tail(stream) end
  return tails[stream]
end
local n = (#ARGV - 5) / 6
for i = 1, n do
  local a = 5 + (i - 1) * 6
  local k = (i - 1) * 6
  local stream = KEYS[k + 3]
  local gateway = ARGV[a + 4]
  local refresh = ARGV[a + 6] == '1'
  local standing = redis.call('GET', KEYS[k + 2])
  local path, field = nil, nil
  if not standing then
    field = field_of_hex(ARGV[a + 2])
    standing, path = tree_get(KEYS[k + 1], ARGV[a + 1], field, seen)
  end
  local id = ''
  local after = ''
  if not standing then
    -- The entry before the decision: a script stopped by an error in between keeps what it wrote, and an entry
    -- without its decision is appended again on the next pull (a duplicate), where a decision without its entry
    -- would stand for an append that never happened (a loss).
    after = tail(stream)
    id = append(stream, ARGV[a + 5], refresh)
    tails[stream] = id
    standing = '=' .. gateway
    tree_put(path, field, standing, dpx, seen)
  elseif standing == '>' .. gateway then
    local marker = KEYS[k + 4]
    local mfield = field_of_hex(ARGV[a + 3])
    local marked, mpath = tree_get(marker, marker .. ':', mfield, seen)
    if not marked and redis.call('EXISTS', KEYS[k + 5]) == 0 then
      after = tail(stream)
      id = append(stream, ARGV[a + 5], refresh)
      tails[stream] = id
      tree_put(mpath, mfield, '1', mpx, seen)
    end
  end
  out[5 * i - 4] = standing
  out[5 * i - 3] = id
  out[5 * i - 2] = after
end
expire_appended(ARGV[3])
local owners = {}
for i = 1, n do
  local gateway = ARGV[5 + (i - 1) * 6 + 4]
  local standing = out[5 * i - 4]
  if standing == '=' .. gateway or standing == '>' .. gateway then
    local key = KEYS[(i - 1) * 6 + 6]
    local owner = owners[key]
    if not owner then
      owner = {live_owner(key, ARGV[4], ARGV[5])}
      owners[key] = owner
    end
    out[5 * i - 1] = owner[1]
    out[5 * i] = owner[2]
  else
    out[5 * i - 1] = 0
    out[5 * i] = 0
  end
end
return out
`,
);

// Most entries one script call takes, so a call (and the time it holds the server) stays bounded.
const MAX_ENTRIES_PER_CALL = 256;

/** Construction options for {@link RedisRouteAppender}. */
export interface RedisRouteAppenderOptions {
  /** A connected client to one Redis server (or a Sentinel master); never closed here. */
  redis: RedisClient;
  /** Where the decisions are kept. */
  dedup: Pick<RedisDedupStore, 'placeOf'>;
  /** Where the queues are kept. */
  queue: Pick<RedisDeliveryQueue, 'placeOf' | 'expiryRefreshes'>;
  /** Where the gateways' owners are kept: each entry's is read after the appends, for the wake-up. */
  presence: Pick<RedisPresenceMap, 'ownerKey' | 'aliveKeyAround'>;
}

/**
 * {@link RouteAppender} on one Redis server: a page's decisions, appends and owner reads as one script call per 256
 * messages, where deciding, appending and reading the owners apart took three calls and a queue dedup marker per message. A Redis Cluster keeps
 * decisions and queues in different slots, so it has none.
 */
export class RedisRouteAppender implements RouteAppender {
  constructor(private readonly o: RedisRouteAppenderOptions) {
    if (isClusterClient(o.redis)) throw new RelayError('INTERNAL', 'a route appender needs one Redis server, not a cluster');
  }

  async decideAndAppend(entries: readonly RouteAppendEntry[], decisionTtlMs: number): Promise<RouteAppendResult[]> {
    const calls: Array<readonly RouteAppendEntry[]> = [];
    for (let i = 0; i < entries.length; i += MAX_ENTRIES_PER_CALL) calls.push(entries.slice(i, i + MAX_ENTRIES_PER_CALL));
    const results = await Promise.all(calls.map((call) => this.run(call, decisionTtlMs)));
    return results.flat();
  }

  private async run(entries: readonly RouteAppendEntry[], decisionTtlMs: number): Promise<RouteAppendResult[]> {
    if (entries.length === 0) return [];
    const keys: string[] = [];
    let head: Array<string | number> | null = null;
    // Strings only (see packedFieldArg).
    const args: Array<string | number> = [];
    // Gateways whose streams this call sets the expiry of, should it append to them.
    const refreshing = new Set<string>();
    const refreshes = this.o.queue.expiryRefreshes;
    const startedAt = refreshes.started();
    for (const entry of entries) {
      const decision = this.o.dedup.placeOf(entry.key, entry.placement, decisionTtlMs);
      const append = this.o.queue.placeOf(entry.gatewayId, entry.dedupKey, entry.placement.at);
      head ??= [decision.px, append.markerPx, append.idlePx, ...this.o.presence.aliveKeyAround];
      if (!refreshing.has(entry.gatewayId) && refreshes.due(entry.gatewayId)) refreshing.add(entry.gatewayId);
      keys.push(decision.root, decision.alone, append.stream, append.markerRoot, append.markerAlone, this.o.presence.ownerKey(entry.gatewayId));
      args.push(
        decision.base,
        packedFieldArg(decision.field),
        packedFieldArg(append.field),
        entry.gatewayId,
        JSON.stringify(entry.event),
        refreshing.has(entry.gatewayId) ? '1' : '',
      );
    }
    const reply = await DECIDE_AND_APPEND.run(this.o.redis, keys, [...head!, ...args]);
    if (!Array.isArray(reply) || reply.length !== entries.length * 5) {
      throw new RelayError('INTERNAL', 'route script returned no results', { entries: entries.length });
    }
    entries.forEach((entry, i) => {
      const id = reply[5 * i + 1];
      if (typeof id === 'string' && id !== '' && refreshing.delete(entry.gatewayId)) refreshes.noted(entry.gatewayId, startedAt);
    });
    return entries.map((_, i) => {
      const id = reply[5 * i + 1];
      const after = reply[5 * i + 2];
      const node = reply[5 * i + 3];
      const gen = reply[5 * i + 4];
      const appended = typeof id === 'string' && id !== '';
      return {
        decision: String(reply[5 * i]),
        id: appended ? id : null,
        ...(appended ? { appended: { after: typeof after === 'string' && after !== '' ? after : null, enqueuedAt: streamIdMillis(id) } } : {}),
        ...(node === 0 ? {} : { owner: typeof node === 'string' && gen != null ? { nodeId: node, generation: Number(gen) } : null }),
      };
    });
  }
}
