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
/** Levels below a root at most; the deepest takes whatever comes (beyond 128 × 8⁸ fields under one root). */
export const PACKED_MAX_DEPTH = 8;

/**
 * The name every hash below `root` starts with, as the server sees it (`clientPrefix` being the client's own keyPrefix,
 * which scripts must add to names they build): `<prefix>{<root>}:`, then one digit per level. The root's whole name as
 * the hash tag puts them in the root's slot; a root that carries a tag itself (a client prefix with braces) keeps it
 * first in line, so the tag still wins.
 */
export function packedTreeBase(clientPrefix: string, prefix: string, root: string): string {
  return `${clientPrefix}${prefix}{${clientPrefix}${root}}:`;
}

/**
 * Lua functions for scripts over packed trees; `base` is {@link packedTreeBase} of `root`, `field` a 12-byte packed
 * field (its first bytes choose the path).
 *   tree_get(root, base, field) → the value, or false and the hash the field would go into, and its depth.
 *   tree_put(root, base, field, value, depth, px, bumped) writes the field into the hash tree_get named and makes that
 *   hash and every one above it live at least px ms more (`bumped` remembers names already extended by this call).
 */
export const PACKED_TREE_LUA = `
local function tree_key(root, base, field, depth)
  if depth == 0 then return root end
  local path = {}
  for level = 1, depth do path[level] = string.byte(field, level) % ${PACKED_FANOUT} end
  return base .. table.concat(path)
end
local function tree_get(root, base, field)
  local depth = 0
  local key = root
  while true do
    local value = redis.call('HGET', key, field)
    if value then return value end
    if depth == ${PACKED_MAX_DEPTH} or redis.call('HLEN', key) < ${PACKED_HASH_ENTRIES} then return false, key, depth end
    depth = depth + 1
    key = tree_key(root, base, field, depth)
  end
end
local function tree_put(root, base, field, value, key, depth, px, bumped)
  redis.call('HSET', key, field, value)
  for level = depth, 0, -1 do
    local above = level == depth and key or tree_key(root, base, field, level)
    if not bumped[above] then
      bumped[above] = true
      if redis.call('PTTL', above) < px then redis.call('PEXPIRE', above, px) end
    end
  end
end
`;
