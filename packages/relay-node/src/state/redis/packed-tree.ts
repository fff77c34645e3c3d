/**
 * A packed hash that never outgrows Redis's compact encoding. Redis keeps a hash as a listpack (about 30 bytes per
 * short field and value) only up to `hash-max-listpack-entries` fields (128 in the shipped redis.conf); one field more
 * and the whole hash becomes a hashtable at about 85 bytes per field. So a packed hash (the root) takes at most
 * {@link PACKED_HASH_ENTRIES} fields; once full, further fields go one level down, into one of {@link PACKED_FANOUT}
 * hashes chosen by the field's bytes, and so on. Nothing moves once written and nothing is deleted but by expiry, so a
 * field is found by walking its one path from the root and stopping at the first hash that holds it or is not full:
 * the walk runs inside the script that reads or writes, one round trip as with a single hash, and a root written by a
 * relay that did not split (any number of fields) is read as it is. Hashes below a root share its Redis Cluster slot
 * (their name's hash tag is the root's full name), and every hash on a field's path lives at least as long as the
 * field: writing a field extends the expiry of each hash above it.
 */

/** Fields a packed hash takes before new ones go one level down: the shipped redis.conf's hash-max-listpack-entries. */
export const PACKED_HASH_ENTRIES = 128;
/** How many hashes take the overflow of one full hash, one level down. */
export const PACKED_FANOUT = 8;
/**
 * A hash's expiry is moved to px only once it has fallen more than this below, so the writes of half a minute to one
 * hash extend it once (and replicate one PEXPIRE) instead of each: every hash still lives px − 30 s after each write.
 */
export const PACKED_EXPIRY_SLACK_MS = 30_000;
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
 * field (its first bytes choose the path), `seen` = { full = {}, extended = {} }, shared by the calls of one script
 * (which hashes it found full, how far it extended each one's expiry).
 *   tree_get(root, base, field, seen) → the value, or false and the hashes of the field's path down to the one it would
 *   go into.
 *   tree_put(path, field, value, px, seen) writes the field into the last hash of that path and makes every hash of it
 *   live at least px − {@link PACKED_EXPIRY_SLACK_MS} ms more (px being well above the field's ttl).
 */
export const PACKED_TREE_LUA = `
local function tree_get(root, base, field, seen)
  local path = { root }
  local key = root
  local depth = 0
  while true do
    local value = redis.call('HGET', key, field)
    if value then return value end
    if depth == ${PACKED_MAX_DEPTH} then return false, path end
    local full = seen.full[key]
    if not full then
      full = redis.call('HLEN', key) >= ${PACKED_HASH_ENTRIES}
      if full then seen.full[key] = true end
    end
    if not full then return false, path end
    depth = depth + 1
    key = (depth == 1 and base or key) .. (string.byte(field, depth) % ${PACKED_FANOUT})
    path[depth + 1] = key
  end
end
local function tree_put(path, field, value, px, seen)
  redis.call('HSET', path[#path], field, value)
  for i = #path, 1, -1 do
    local key = path[i]
    local extended = seen.extended[key]
    if not extended or extended < px then
      seen.extended[key] = px
      local left = redis.call('PTTL', key)
      if left < 0 or left < px - ${PACKED_EXPIRY_SLACK_MS} then redis.call('PEXPIRE', key, px) end
    end
  end
end
`;
