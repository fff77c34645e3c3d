import { RelayError } from '../../errors/relay-error.js';
import type { RouteAppendEntry, RouteAppender, RouteAppendResult, WindowNote } from '../route-appender.js';
import { chunkByUser } from '../user-chunks.js';
import { LuaScript } from './lua-script.js';
import { isClusterClient, type RedisClient } from './redis-client.js';
import type { RedisDedupStore } from './redis-dedup-store.js';
import type { RedisDeliveryQueue } from './redis-delivery-queue.js';
import { MARKER_PLACE_LUA, STREAM_APPEND_LUA } from './redis-queue-scripts.js';
import { streamIdMillis } from './stream-id.js';
import { PACKED_TREE_LUA } from './packed-tree.js';
import { PackedArgs, packedFormat } from './packed-args.js';
import { clientKeyPrefix } from './keyspace.js';
import { LIVE_OWNER_LUA, type RedisPresenceMap } from './redis-presence-map.js';
import type { RedisBindingStore } from './redis-binding-store.js';
import { NOTE_SPOKEN_LUA, WINDOW_NOTE_PX, windowMark, type RedisOutboundLedger } from './redis-outbound-ledger.js';

// One server only (the keys of many gateways and minutes, most of them named in a packed argument, not in KEYS). KEYS:
// the bindings hash where bindings are checked, else none.
// ARGV: the decision tree's expiry, the marker tree's expiry, the queue idle ttl, how an alive key's name starts and
// ends around the node id, the windows' ttl, how many windows, whether bindings are checked ('1' or '0'), the windows
// packed (PackedArgs: per window the send window's key, its note's time, msgid and mark, as customerSpoke takes them),
// the entries packed, and how many entries. Per entry: the decision's packed root, the decision key a relay before
// packing wrote, the gateway's stream, the gateway's owner record (these four with the client's key prefix), the decision
// tree's base, the decision field (its 12 bytes), the queue marker (as the queue's placeOf gives it: its keys and field
// are made here, for the few entries that need one), the gateway id, the event JSON, '1' where the stream's expiry is to
// be set again ('' where the caller set it lately: see ExpiryRefreshes), the user, and the id the caller last appended to
// the stream ('' for none).
// A stream the call creates gets its expiry whatever the flag says.
// The windows are noted first, so a gateway that answers a message finds the window it opened. Returns per entry the
// decision that stands (false where the user moved: no decision stood and, bindings checked, the user is no longer
// bound to the entry's gateway; nothing is then written for it), the new queue id ('' when nothing was appended), the
// id of the entry the stream ended with just before it was appended ('' when the stream was empty or nothing was
// appended; the caller's last appended id where nothing followed it, see stream_tail_after) and, where the decision
// that stands is for the entry's gateway, that gateway's live owner node and generation (false when it has none; 0 and
// 0 where not read), read after every append, so a gateway that moves in between is served by its new node either way.
// A decision is read as dedup-decide-packed-trees reads it (the old key first); a new one is `=<gateway>` written in the
// same step as its XADD, so no marker is needed; a standing `><gateway>` of the entry's own gateway is appended unless
// its marker stands, as queue-append-many does it.
const DECIDE_AND_APPEND = new LuaScript(
  'route-decide-append',
  `${PACKED_TREE_LUA}${MARKER_PLACE_LUA}${LIVE_OWNER_LUA}${STREAM_APPEND_LUA}${NOTE_SPOKEN_LUA}
local out = {}
local seen = tree_seen()
local dpx = tonumber(ARGV[1])
local mpx = tonumber(ARGV[2])
local checked = ARGV[8] == '1'
local pos = 1
for w = 1, tonumber(ARGV[7]) do
  local key, at, msgid, mark
  key, at, msgid, mark, pos = struct.unpack('${packedFormat(4)}', ARGV[9], pos)
  note_spoken(key, at, msgid, mark, ARGV[6])
end
-- Each user's binding, read once per call (the call is atomic: it cannot change in between).
local bound = {}
local function still_bound(user, gateway)
  if not checked then return true end
  if bound[user] == nil then bound[user] = redis.call('HGET', KEYS[1], user) end
  return bound[user] == gateway
end
-- The last id of each stream appended to: the entry before the next one this call appends.
local tails = {}
local function tail(stream, known)
  if tails[stream] == nil then tails[stream] = stream_tail_after(stream, known) end
  return tails[stream]
end
local n = tonumber(ARGV[11])
local gateways, owner_keys = {}, {}
pos = 1
for i = 1, n do
  local root, alone, stream, owner_key, base, field, marker, gateway, event, refresh, user, known
  root, alone, stream, owner_key, base, field, marker, gateway, event, refresh, user, known, pos =
    struct.unpack('${packedFormat(12)}', ARGV[10], pos)
  gateways[i] = gateway
  owner_keys[i] = owner_key
  refresh = refresh == '1'
  local standing = redis.call('GET', alone)
  local into = nil
  if not standing then standing, into = tree_get(root, base, field, seen) end
  local id = ''
  local after = ''
  if not standing and not still_bound(user, gateway) then
    standing = false
  elseif not standing then
    -- The entry before the decision: a script stopped by an error in between keeps what it wrote, and an entry
    -- without its decision is appended again on the next pull (a duplicate), where a decision without its entry
    -- would stand for an append that never happened (a loss).
    after = tail(stream, known)
    id = append(stream, event, refresh)
    tails[stream] = id
    standing = '=' .. gateway
    tree_put(into, field, standing, dpx, seen)
  elseif standing == '>' .. gateway then
    local mroot, malone, mfield = marker_place(stream, marker)
    local marked, minto = tree_get(mroot, mroot .. ':', mfield, seen)
    if not marked and redis.call('EXISTS', malone) == 0 then
      after = tail(stream, known)
      id = append(stream, event, refresh)
      tails[stream] = id
      tree_put(minto, mfield, '1', mpx, seen)
    end
  end
  out[5 * i - 4] = standing
  out[5 * i - 3] = id
  out[5 * i - 2] = after
end
expire_appended(ARGV[3])
local owners = {}
for i = 1, n do
  local gateway = gateways[i]
  local standing = out[5 * i - 4]
  if standing == '=' .. gateway or standing == '>' .. gateway then
    local key = owner_keys[i]
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

// Entries after which a script call takes no further user, so a call (and the time it holds the server) stays bounded:
// a user's entries are never split (see chunkByUser), so a call holds at most this many plus one user's, a page at most.
const MAX_ENTRIES_PER_CALL = 256;

/** Construction options for {@link RedisRouteAppender}. */
export interface RedisRouteAppenderOptions {
  /** A connected client to one Redis server (or a Sentinel master); never closed here. */
  redis: RedisClient;
  /** Where the decisions are kept. */
  dedup: Pick<RedisDedupStore, 'placeOf' | 'treePx'>;
  /** Where the queues are kept, with the ids this node last appended to them (see RedisDeliveryQueue.tails). */
  queue: Pick<RedisDeliveryQueue, 'placeOf' | 'appendExpiries' | 'expiryRefreshes' | 'tails'>;
  /** Where the gateways' owners are kept: each entry's is read after the appends, for the wake-up. */
  presence: Pick<RedisPresenceMap, 'ownerKey' | 'aliveKeyAround'>;
  /** Where the send windows are kept. */
  ledger: Pick<RedisOutboundLedger, 'windowKey'>;
  /** Where the bindings are kept, when on the same server: each new decision then checks its user's binding. */
  bindings?: Pick<RedisBindingStore, 'usersKey'>;
}

/**
 * {@link RouteAppender} on one Redis server: a page's window notes, binding checks, decisions, appends and owner reads as
 * one script call per 256 messages, where deciding, appending and reading the owners apart took three calls and a queue
 * dedup marker per message. A Redis Cluster keeps decisions and queues in different slots, so it has none.
 */
export class RedisRouteAppender implements RouteAppender {
  readonly checksBindings: boolean;

  constructor(private readonly o: RedisRouteAppenderOptions) {
    if (isClusterClient(o.redis)) throw new RelayError('INTERNAL', 'a route appender needs one Redis server, not a cluster');
    this.checksBindings = o.bindings !== undefined;
  }

  async decideAndAppend(entries: readonly RouteAppendEntry[], decisionTtlMs: number, windows: readonly WindowNote[] = []): Promise<RouteAppendResult[]> {
    // Calls of one connection run in order, so the windows, noted by the first call, are in before any append.
    const calls = chunkByUser(
      entries.map((_, i) => i),
      (i) => entries[i]!.userId,
      () => MAX_ENTRIES_PER_CALL,
    );
    if (calls.length === 0) calls.push([]);
    const results = await Promise.all(
      calls.map((call, n) =>
        this.run(
          call.map((i) => entries[i]!),
          decisionTtlMs,
          n === 0 ? windows : [],
        ),
      ),
    );
    // Back in the order given: a call holds a user's entries wherever they fall.
    const ordered = new Array<RouteAppendResult>(entries.length);
    calls.forEach((call, n) => call.forEach((i, k) => (ordered[i] = results[n]![k]!)));
    return ordered;
  }

  private async run(entries: readonly RouteAppendEntry[], decisionTtlMs: number, windows: readonly WindowNote[]): Promise<RouteAppendResult[]> {
    if (entries.length === 0 && windows.length === 0) return [];
    const { ledger, bindings } = this.o;
    // Keys in the packed arguments are named as the server sees them: ioredis prefixes only those in KEYS.
    const prefix = clientKeyPrefix(this.o.redis);
    const packedWindows = new PackedArgs();
    for (const w of windows) {
      packedWindows.push(prefix + ledger.windowKey(w.openKfid, w.externalUserId), String(Math.floor(w.atMs)), w.msgid, windowMark(w.msgid));
    }
    const packedEntries = new PackedArgs();
    // Gateways whose streams this call sets the expiry of, should it append to them.
    const refreshing = new Set<string>();
    const refreshes = this.o.queue.expiryRefreshes;
    const startedAt = refreshes.started();
    const { markerPx, idlePx } = this.o.queue.appendExpiries;
    for (const entry of entries) {
      const decision = this.o.dedup.placeOf(entry.key, entry.placement);
      const append = this.o.queue.placeOf(entry.gatewayId, entry.dedupKey, entry.placement.at);
      if (!refreshing.has(entry.gatewayId) && refreshes.due(entry.gatewayId)) refreshing.add(entry.gatewayId);
      packedEntries.push(
        prefix + decision.root,
        prefix + decision.alone,
        prefix + append.stream,
        prefix + this.o.presence.ownerKey(entry.gatewayId),
        decision.base,
        decision.field,
        append.marker,
        entry.gatewayId,
        JSON.stringify(entry.event),
        refreshing.has(entry.gatewayId) ? '1' : '',
        entry.userId,
        this.o.queue.tails.get(entry.gatewayId) ?? '',
      );
    }
    const reply = await DECIDE_AND_APPEND.run(this.o.redis, bindings ? [bindings.usersKey()] : [], [
      this.o.dedup.treePx(decisionTtlMs),
      markerPx,
      idlePx,
      ...this.o.presence.aliveKeyAround,
      WINDOW_NOTE_PX,
      windows.length,
      bindings ? '1' : '0',
      packedWindows.toBuffer(),
      packedEntries.toBuffer(),
      entries.length,
    ]);
    if (!Array.isArray(reply) || reply.length !== entries.length * 5) {
      throw new RelayError('INTERNAL', 'route script returned no results', { entries: entries.length });
    }
    entries.forEach((entry, i) => {
      const id = reply[5 * i + 1];
      if (typeof id !== 'string' || id === '') return;
      if (refreshing.delete(entry.gatewayId)) refreshes.noted(entry.gatewayId, startedAt);
      this.o.queue.tails.set(entry.gatewayId, id);
    });
    return entries.map((_, i) => {
      const decision = reply[5 * i];
      if (decision === null) return { decision: '', id: null, moved: true };
      const id = reply[5 * i + 1];
      const after = reply[5 * i + 2];
      const node = reply[5 * i + 3];
      const gen = reply[5 * i + 4];
      const appended = typeof id === 'string' && id !== '';
      return {
        decision: String(decision),
        id: appended ? id : null,
        ...(appended ? { appended: { after: typeof after === 'string' && after !== '' ? after : null, enqueuedAt: streamIdMillis(id) } } : {}),
        ...(node === 0 ? {} : { owner: typeof node === 'string' && gen != null ? { nodeId: node, generation: Number(gen) } : null }),
      };
    });
  }
}
