import { toPx } from './keyspace.js';

/**
 * A packed hash that never outgrows Redis's compact encoding. Redis keeps a hash as a listpack (about 30 bytes per
 * short field and value) only up to `hash-max-listpack-entries` fields (128 in the shipped redis.conf); one field more
 * and the whole hash becomes a hashtable at about 85 bytes per field. So a packed hash (the root) takes at most
 * {@link PACKED_HASH_ENTRIES} fields; once full, further fields go one level down, into one of {@link PACKED_FANOUT}
 * hashes chosen by the field's bytes, and so on. Nothing moves once written and nothing is deleted but by expiry, so a
 * field is found by walking its one path from the root and stopping at the first hash that holds it or is not full:
 * the walk runs inside the script that reads or writes, one round trip as with a single hash, and a root written by a
 * relay that did not split (any number of fields) is read as it is. Hashes below a root share its Redis Cluster slot
 * (their name's hash tag is the root's full name).
 *
 * A hash's expiry is set once, by the write that creates it, to the tree's ttl from then. That suffices because a
 * tree holds one period (a minute, an hour) of records keyed by when WeCom sent the message, and WeCom serves a message
 * again for 3 days after it was sent, one day less than the ttl: a hash created at its period's start or later outlives
 * every re-pull that could need any field below it. Moving every hash's expiry on later writes, as relays before this
 * did, cost a PTTL per write and changes nothing a re-pull can see.
 */

/** Fields a packed hash takes before new ones go one level down: the shipped redis.conf's hash-max-listpack-entries. */
export const PACKED_HASH_ENTRIES = 128;
/** How many hashes take the overflow of one full hash, one level down. */
export const PACKED_FANOUT = 8;
/**
 * The expiry (ms, as Redis takes it) a packed tree's hash gets when it is created: the records' ttl plus the tree's
 * period (a minute, an hour), so a hash created at its period's start or later outlives each record of it by the ttl.
 */
export function packedTreePx(ttlMs: number, periodMs: number): number {
  return toPx(ttlMs + periodMs);
}

/**
 * A packed field as scripts that take their values one argument each take it: 24 hex digits, which field_of_hex turns
 * back into the 12 bytes. A call whose arguments are all strings goes out as one string; one Buffer among them makes
 * ioredis encode every argument apart, which cost a node routing a page of 100 messages, when the route script took its
 * values so, a fifth of its routing CPU (bench/route-profile.ts, four alternating runs each: 39–47 µs per message with
 * the raw bytes, 31–32 µs with hex). The route script now takes the raw bytes inside one packed argument (PackedArgs).
 */
export function packedFieldArg(field: Buffer): string {
  return field.toString('hex');
}

/** Levels below a root at most; the deepest takes whatever comes (beyond 128 × 8⁸ fields under one root). */
export const PACKED_MAX_DEPTH = 8;

/**
 * The name every hash below `root` starts with, as the server sees it (`clientPrefix` being the client's own keyPrefix,
 * which scripts must add to names they build); one digit per level follows. A root whose name carries a hash tag (e.g.
 * `{gw:<id>}`) keeps it: `<root>:`. Otherwise the root's whole name becomes the tag, `<prefix>{<root>}:`, which Redis
 * Cluster hashes as it hashes the untagged root.
 */
export function packedTreeBase(clientPrefix: string, prefix: string, root: string): string {
  const full = clientPrefix + root;
  return hasHashTag(full) ? `${full}:` : `${clientPrefix}${prefix}{${full}}:`;
}

/** Whether Redis Cluster hashes only part of the name: a `{` followed, later, by a `}` with something between. */
function hasHashTag(name: string): boolean {
  const open = name.indexOf('{');
  return open !== -1 && name.indexOf('}', open + 1) > open + 1;
}

/**
 * Lua functions for scripts over packed trees; `base` is {@link packedTreeBase} of `root`, `field` a 12-byte packed
 * field (its first bytes choose the path), `seen` = tree_seen(), shared by the calls of one script (how many fields
 * each hash it met holds, kept up to date by its own writes, so each hash is counted once per script call).
 *   field_of_hex(hex) → the 12-byte field a script was given as 24 hex digits (see {@link packedFieldArg}).
 *   tree_get(root, base, field, seen) → the value, or false and the hash the field would go into (the last of its path).
 *   tree_put(key, field, value, px, seen) writes the field into that hash and, when that write creates the hash, makes
 *   it expire px ms later.
 */
export const PACKED_TREE_LUA = `
local function field_of_hex(hex)
  local a, b, c = string.sub(hex, 1, 8), string.sub(hex, 9, 16), string.sub(hex, 17, 24)
  return struct.pack('>I4I4I4', tonumber(a, 16), tonumber(b, 16), tonumber(c, 16))
end
local function tree_seen()
  return { size = {} }
end
local function tree_get(root, base, field, seen)
  local key = root
  local depth = 0
  while true do
    local value = redis.call('HGET', key, field)
    if value then return value end
    if depth == ${PACKED_MAX_DEPTH} then return false, key end
    local size = seen.size[key]
    if not size then
      size = redis.call('HLEN', key)
      seen.size[key] = size
    end
    if size < ${PACKED_HASH_ENTRIES} then return false, key end
    depth = depth + 1
    key = (depth == 1 and base or key) .. (string.byte(field, depth) % ${PACKED_FANOUT})
  end
end
local function tree_put(key, field, value, px, seen)
  redis.call('HSET', key, field, value)
  local size = seen.size[key]
  -- Unknown only at the deepest level, which the walk does not count: its expiry is checked instead.
  if size == nil then
    if redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, px) end
    return
  end
  if size == 0 then redis.call('PEXPIRE', key, px) end
  seen.size[key] = size + 1
end
`;
