import { RelayError } from '../../errors/relay-error.js';
import type { RouteAppendEntry, RouteAppender, RouteAppendResult } from '../route-appender.js';
import { LuaScript } from './lua-script.js';
import { isClusterClient, type RedisClient } from './redis-client.js';
import type { RedisDedupStore } from './redis-dedup-store.js';
import { EVENT_FIELD, type RedisDeliveryQueue } from './redis-delivery-queue.js';
import { PACKED_TREE_LUA } from './packed-tree.js';

// One server only (the keys of many gateways and minutes). KEYS per entry: the decision's packed root, the decision
// key a relay before packing wrote, the gateway's stream, its marker hour root, the marker key a relay before packing
// wrote. ARGV: the decision tree's expiry, the marker tree's expiry, the queue idle ttl, then per entry: the decision
// tree's base, the decision field, the marker field, the gateway id, the event JSON. Returns per entry the decision
// that stands and the new queue id ('' when nothing was appended). A decision is read as dedup-decide-packed-trees
// reads it (the old key first); a new one is `=<gateway>` written in the same step as its XADD, so no marker is
// needed; a standing `><gateway>` of the entry's own gateway is appended unless its marker stands, as
// queue-append-many does it.
const DECIDE_AND_APPEND = new LuaScript(
  'route-decide-append',
  `${PACKED_TREE_LUA}
local out = {}
local seen = tree_seen()
local dpx = tonumber(ARGV[1])
local mpx = tonumber(ARGV[2])
local touched = {}
local n = (#ARGV - 3) / 5
for i = 1, n do
  local a = 3 + (i - 1) * 5
  local k = (i - 1) * 5
  local stream = KEYS[k + 3]
  local gateway = ARGV[a + 4]
  local standing = redis.call('GET', KEYS[k + 2])
  local path = nil
  if not standing then standing, path = tree_get(KEYS[k + 1], ARGV[a + 1], ARGV[a + 2], seen) end
  local id = ''
  if not standing then
    -- The entry before the decision: a script stopped by an error in between keeps what it wrote, and an entry
    -- without its decision is appended again on the next pull (a duplicate), where a decision without its entry
    -- would stand for an append that never happened (a loss).
    id = redis.call('XADD', stream, '*', '${EVENT_FIELD}', ARGV[a + 5])
    standing = '=' .. gateway
    tree_put(path, ARGV[a + 2], standing, dpx, seen)
  elseif standing == '>' .. gateway then
    local marker = KEYS[k + 4]
    local marked, mpath = tree_get(marker, marker .. ':', ARGV[a + 3], seen)
    if not marked and redis.call('EXISTS', KEYS[k + 5]) == 0 then
      id = redis.call('XADD', stream, '*', '${EVENT_FIELD}', ARGV[a + 5])
      tree_put(mpath, ARGV[a + 3], '1', mpx, seen)
    end
  end
  if id ~= '' and not touched[stream] then
    touched[stream] = true
    touched[#touched + 1] = stream
  end
  out[2 * i - 1] = standing
  out[2 * i] = id
end
for _, stream in ipairs(touched) do redis.call('PEXPIRE', stream, ARGV[3]) end
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
  queue: Pick<RedisDeliveryQueue, 'placeOf'>;
}

/**
 * {@link RouteAppender} on one Redis server: a page's decisions and appends as one script call per 256 messages,
 * where deciding and appending apart took two calls and a queue dedup marker per message. A Redis Cluster keeps
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
    const args: Array<string | number | Buffer> = [];
    for (const entry of entries) {
      const decision = this.o.dedup.placeOf(entry.key, entry.placement, decisionTtlMs);
      const append = this.o.queue.placeOf(entry.gatewayId, entry.dedupKey, entry.placement.at);
      head ??= [decision.px, append.markerPx, append.idlePx];
      keys.push(decision.root, decision.alone, append.stream, append.markerRoot, append.markerAlone);
      args.push(decision.base, decision.field, append.field, entry.gatewayId, JSON.stringify(entry.event));
    }
    const reply = await DECIDE_AND_APPEND.run(this.o.redis, keys, [...head!, ...args]);
    if (!Array.isArray(reply) || reply.length !== entries.length * 2) {
      throw new RelayError('INTERNAL', 'route script returned no results', { entries: entries.length });
    }
    return entries.map((_, i) => {
      const id = reply[2 * i + 1];
      return { decision: String(reply[2 * i]), id: typeof id === 'string' && id !== '' ? id : null };
    });
  }
}
