import { LuaScript } from './lua-script.js';
import { PACKED_TREE_LUA } from './packed-tree.js';

// The Lua a gateway's queue is written with: the scripts RedisDeliveryQueue runs, and the functions other scripts that
// append beside their own work (the route step's) include.

/** The stream field holding the JSON-encoded event (scripts that append beside other work write it too). */
export const EVENT_FIELD = 'event';

/**
 * Lua functions for scripts that append to gateway streams and move their expiry only where it is due (see
 * ExpiryRefreshes): append(stream, event JSON, refresh) appends and returns the id, noting the stream; a stream that did
 * not exist is created and its expiry is due whatever `refresh` says. expire_appended(px) then sets the expiry of every
 * stream appended to whose expiry is due. stream_tail(stream) is the id the stream ends with ('' when empty);
 * stream_tail_after(stream, known) answers the same from the id the caller last appended ('' for none), reading the
 * last entry only where something follows that id.
 */
export const STREAM_APPEND_LUA = `
local appended, expire_due = {}, {}
local function append(stream, event, refresh)
  local id = redis.call('XADD', stream, 'NOMKSTREAM', '*', '${EVENT_FIELD}', event)
  if not id then
    id = redis.call('XADD', stream, '*', '${EVENT_FIELD}', event)
    refresh = true
  end
  if expire_due[stream] == nil then appended[#appended + 1] = stream end
  expire_due[stream] = expire_due[stream] or refresh
  return id
end
-- The id a stream ends with ('' when it holds nothing or is not there): what the next append follows. COUNT is given
-- as a string: Redis formats a Lua number argument with snprintf on each call, which the route script paid per message.
local function stream_tail(stream)
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', '1')[1]
  return last and last[1] or ''
end
-- As stream_tail, given the id this caller last appended to the stream ('' for none): the last entry only where one
-- follows that id, else the id itself, so the usual answer is an empty read instead of the last entry with its event.
-- Where the stream lost entries since, the id stands past its last one; a tail is asked for to know whether a read
-- after a pointer returns only what is appended next, which an id at or past the tail answers as safely (a pointer
-- before it reads the queue).
local function stream_tail_after(stream, known)
  if known == '' then return stream_tail(stream) end
  local last = redis.call('XREVRANGE', stream, '+', '(' .. known, 'COUNT', '1')[1]
  return last and last[1] or known
end
local function expire_appended(px)
  for _, stream in ipairs(appended) do
    if expire_due[stream] then redis.call('PEXPIRE', stream, px) end
  end
end
`;

/** How a gateway's queue key ends after its tag. */
export const QUEUE_SUFFIX = ':queue';
/** What follows a gateway's tag in a marker key a relay before packing wrote (then the dedup key). */
export const MARKER_KEY_INFIX = ':dedup:';
/** What follows a gateway's tag in a packed marker hour root (then the hour). */
export const MARKER_ROOT_INFIX = ':dp:';

/**
 * Lua: `marker_place(stream, marker)` gives, for the queue `stream` and a marker as placeOf gives it, the marker's hour
 * root, the marker key a relay before packing wrote and the marker's 12-byte field: the names and bytes appendMany uses.
 * For scripts that need a marker only now and then (the route script), so the node computes none for each message.
 */
export const MARKER_PLACE_LUA = `
local function marker_place(stream, marker)
  local hour, key = string.match(marker, '^(%d+):(.*)$')
  local tagged = string.sub(stream, 1, #stream - ${QUEUE_SUFFIX.length})
  return tagged .. '${MARKER_ROOT_INFIX}' .. hour, tagged .. '${MARKER_KEY_INFIX}' .. key, field_of_hex(string.sub(redis.sha1hex(key), 1, 24))
end
`;

/** One append with its own marker key (queue-append-once). */
// KEYS: stream, dedup marker; ARGV: event JSON, marker ttl (ms), queue idle ttl (ms). Returns the new id, or nil when the marker
// is still alive. The marker is its own key with PX, so it outlives acks and trims of the stream, and Redis
// expiry alone bounds how many are kept. It is written after XADD, so a failed XADD leaves no marker.
export const APPEND_ONCE = new LuaScript(
  'queue-append-once',
  `
if redis.call('EXISTS', KEYS[2]) == 1 then return false end
local id = redis.call('XADD', KEYS[1], '*', '${EVENT_FIELD}', ARGV[1])
redis.call('SET', KEYS[2], id, 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return id
`,
);

// Appends for one or more gateways (several only on one server: their streams sit in different slots).
// ARGV: queue idle ttl (ms), then per gateway its entry count, '1' where its stream's expiry is to be set again ('' where
// the caller set it lately: see ExpiryRefreshes) and, per entry, its event JSON, its marker ttl (ms;
// 0 = no marker) and its field in the hour's hash (packedFieldArg; '' = a marker key of its own). KEYS: per gateway its
// stream, then per deduplicated entry either its marker key, or (packed) its hour's marker hash and the marker key a
// relay before packing would have written. The hour's hash is the root of a packed tree (packed-tree.ts) whose hashes
// below are named `<root>:<path>` (packedTreeBase of a tagged root): the root carries the gateway's tag, so they share
// its slot.
// Returns one id per entry, '' where a marker was alive (also when an earlier entry of the same batch set it). Markers
// are written right after their XADD, as in queue-append-once.
// APPEND_MANY_BODY is the script after its Lua functions and `groups_from`, the ARGV index the gateways' groups start at
// (it builds `ids`); queue-append-many-reading-owner runs it too.
const APPEND_MANY_BODY = `
local ids = {}
local seen = tree_seen()
local k = 0
local a = groups_from
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  local refresh = ARGV[a + 1] == '1'
  a = a + 2
  k = k + 1
  local stream = KEYS[k]
  for _ = 1, n do
    local ttl = ARGV[a + 1]
    local field = ARGV[a + 2]
    local id = ''
    if ttl == '0' then
      id = append(stream, ARGV[a], refresh)
    elseif field == '' then
      k = k + 1
      if redis.call('EXISTS', KEYS[k]) == 0 then
        id = append(stream, ARGV[a], refresh)
        redis.call('SET', KEYS[k], id, 'PX', ttl)
      end
    else
      local packed = KEYS[k + 1]
      local alone = KEYS[k + 2]
      k = k + 2
      local base = packed .. ':'
      field = field_of_hex(field)
      local marked, into = tree_get(packed, base, field, seen)
      if not marked and redis.call('EXISTS', alone) == 0 then
        id = append(stream, ARGV[a], refresh)
        tree_put(into, field, '1', tonumber(ttl), seen)
      end
    end
    a = a + 3
    ids[#ids + 1] = id
  end
end
expire_appended(ARGV[1])
`;
const APPEND_MANY_LUA = `${PACKED_TREE_LUA}${STREAM_APPEND_LUA}`;
/** Appends for one or more gateways, as described above (queue-append-many). */
export const APPEND_MANY = new LuaScript('queue-append-many', `${APPEND_MANY_LUA}local groups_from = 2
${APPEND_MANY_BODY}return ids
`);

/** queue-append-many for one gateway, reading its owner after (queue-append-many-reading-owner). */
// As queue-append-many for one gateway, with the gateway's owner record as the last KEY and, as ARGV[2], the id the caller
// last appended to the stream ('' for none; see stream_tail_after): after the appends it reads the record's node and
// generation and returns them after the ids (false where there is none), then the id the stream ended with before the
// appends ('' when it was empty; the caller's id where nothing followed it), which the first entry appended follows.
export const APPEND_MANY_READING_OWNER = new LuaScript(
  'queue-append-many-reading-owner',
  `${APPEND_MANY_LUA}local before = stream_tail_after(KEYS[1], ARGV[2])
local groups_from = 3
${APPEND_MANY_BODY}local owner = redis.call('HMGET', KEYS[#KEYS], 'node', 'gen')
ids[#ids + 1] = owner[1]
ids[#ids + 1] = owner[2]
ids[#ids + 1] = before
return ids
`,
);

/** Trims gateway streams to their retention (queue-trim). */
// KEYS: gateway streams; ARGV per stream: the most entries kept, and the age (ms) past which entries go (-1: none).
// Returns per stream the entries dropped. Several streams share one call on one server (the trims of a sweep's tick).
// Age is judged by the Redis server's clock, the same clock that stamped the ids, so node clock skew cannot make items
// look older.
export const TRIM = new LuaScript(
  'queue-trim',
  `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for i = 1, #KEYS do
  local dropped = redis.call('XTRIM', KEYS[i], 'MAXLEN', '=', ARGV[i * 2 - 1])
  local maxAge = tonumber(ARGV[i * 2])
  if maxAge >= 0 and now - maxAge > 0 then
    dropped = dropped + redis.call('XTRIM', KEYS[i], 'MINID', '=', string.format('%.0f-0', now - maxAge))
  end
  out[i] = dropped
end
return out
`,
);
