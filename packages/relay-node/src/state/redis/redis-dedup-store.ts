import { RelayError } from '../../errors/relay-error.js';
import type { RedisClient } from './redis-client.js';
import type { DecisionPlacement, DecisionRequest, DedupStore } from '../dedup-store.js';
import { checkPrefix, clientKeyPrefix, toPx } from './keyspace.js';
import { isClusterClient } from './redis-client.js';
import { packedField, packedShard } from './packed-keys.js';
import { PACKED_TREE_LUA, packedFieldArg, packedTreeBase, packedTreePx } from './packed-tree.js';
import { LuaScript } from './lua-script.js';

// KEYS[1] the decision; ARGV: value, ttl ms. Resolves to the value that stands (SET NX GET needs Redis 7).
const DECIDE = new LuaScript(
  'dedup-decide',
  `
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
`,
);

// KEYS[1] the packed hash (tree root) of the decision's minute and shard, KEYS[2] where a relay before packing kept
// the decision alone; ARGV: field (packedFieldArg), value, ttl ms, the tree's base. The old record, while it lives,
// stands; a new decision goes into the packed tree only. Both keys are read in one step where one script may touch
// both (one server); on a Redis Cluster they sit in different slots, so KEYS[2] is left out and the old record is read
// beforehand (a puller of the old version and one of this version do not overlap on a page: the sync lease lets one
// pull at a time).
const DECIDE_PACKED = new LuaScript(
  'dedup-decide-packed',
  `${PACKED_TREE_LUA}
if KEYS[2] then
  local old = redis.call('GET', KEYS[2])
  if old then return old end
end
local seen = tree_seen()
local field = field_of_hex(ARGV[1])
local existing, into = tree_get(KEYS[1], ARGV[4], field, seen)
if existing then return existing end
tree_put(into, field, ARGV[2], tonumber(ARGV[3]), seen)
return ARGV[2]
`,
);

// decideMany's script for one or more packed trees (several only on one server: their roots sit in different slots).
// KEYS: per tree its root, then (one server only) each of its decisions' old-style keys; ARGV: ttl ms, '1' when the
// old-style keys are given, then per tree its base and its number of decisions followed, per decision, by its field
// (packedFieldArg) and value. Returns the value that stands for each decision, in order, as DECIDE_PACKED.
const DECIDE_PACKED_MANY = new LuaScript(
  'dedup-decide-packed-trees',
  `${PACKED_TREE_LUA}
local out = {}
local px = tonumber(ARGV[1])
local withOld = ARGV[2] == '1'
local seen = tree_seen()
local k = 0
local a = 3
while a <= #ARGV do
  local base = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  k = k + 1
  local root = KEYS[k]
  for _ = 1, n do
    local field = field_of_hex(ARGV[a])
    local value = ARGV[a + 1]
    a = a + 2
    local old = false
    if withOld then
      k = k + 1
      old = redis.call('GET', KEYS[k])
    end
    if old then
      out[#out + 1] = old
    else
      local existing, into = tree_get(root, base, field, seen)
      if existing then
        out[#out + 1] = existing
      else
        tree_put(into, field, value, px, seen)
        out[#out + 1] = value
      end
    end
  end
end
return out
`,
);

// Most decisions one script call takes on one server, so a call (and the time it holds the server) stays bounded.
const MAX_DECISIONS_PER_CALL = 256;

// KEYS[1] a packed tree's root; ARGV: field (packedFieldArg), the tree's base. The value recorded for the field, or
// false.
const RECALL_PACKED = new LuaScript(
  'dedup-recall-packed',
  `${PACKED_TREE_LUA}
local value = tree_get(KEYS[1], ARGV[2], field_of_hex(ARGV[1]), tree_seen())
return value
`,
);

/** Construction options for {@link RedisDedupStore}. */
export interface RedisDedupStoreOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

/**
 * Cluster-wide once-only claims: SET NX PX, so the first node to claim a msgid wins. Decisions with a placement are
 * packed: one packed tree (see packed-tree.ts) per minute of `at` and shard of the key, rooted at `dp:<minute>:<shard>`,
 * each field a key's fingerprint and its value, so every hash stays in Redis' compact encoding however many decisions a
 * minute brings, instead of one string key each. A root written by a relay that did not split it is read as it is;
 * decisions recorded alone (`dedup:<key>`, without a placement or by an older relay) are still honoured.
 */
export class RedisDedupStore implements DedupStore {
  private readonly redis: RedisClient;
  private readonly base: string;
  private readonly packedBase: string;
  private readonly cluster: boolean;
  private readonly prefix: string;

  constructor(opts: RedisDedupStoreOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
    this.base = `${this.prefix}dedup:`;
    this.packedBase = `${this.prefix}dp:`;
    this.cluster = isClusterClient(opts.redis);
  }

  async claim(key: string, ttlMs: number): Promise<boolean> {
    const reply = await this.redis.set(this.base + key, '1', 'PX', toPx(ttlMs), 'NX');
    return reply === 'OK';
  }

  async decide(key: string, value: string, ttlMs: number, placement?: DecisionPlacement): Promise<string> {
    if (!placement) return String(await DECIDE.run(this.redis, [this.base + key], [value, toPx(ttlMs)]));
    const px = packedPx(ttlMs);
    const field = packedField(key);
    const root = this.packedKey(field, placement);
    const args = [packedFieldArg(field), value, px, this.treeBase(root)];
    if (this.cluster) {
      const old = await this.redis.get(this.base + key);
      if (old !== null) return old;
      return String(await DECIDE_PACKED.run(this.redis, [root], args));
    }
    return String(await DECIDE_PACKED.run(this.redis, [root, this.base + key], args));
  }

  /**
   * The decisions grouped by the packed tree they fall into (a minute's shard): on one server as few script calls as
   * the batch bound allows, on a Redis Cluster one per tree, all of them side by side.
   */
  async decideMany(entries: readonly DecisionRequest[], ttlMs: number): Promise<string[]> {
    const out: string[] = new Array<string>(entries.length);
    const groups = new Map<string, Group[1]>();
    const alone: Promise<void>[] = [];
    // On a Redis Cluster the old-style records sit in other slots: read them first, and pack only what they lack.
    const old = this.cluster ? await Promise.all(entries.map((e) => (e.placement ? this.redis.get(this.base + e.key) : null))) : [];
    entries.forEach((entry, index) => {
      if (!entry.placement) {
        alone.push(this.decide(entry.key, entry.value, ttlMs).then((v) => void (out[index] = v)));
        return;
      }
      const standing = old[index];
      if (standing !== null && standing !== undefined) {
        out[index] = standing;
        return;
      }
      const field = packedField(entry.key);
      const key = this.packedKey(field, entry.placement);
      const group = groups.get(key);
      if (group) group.push({ index, field, entry });
      else groups.set(key, [{ index, field, entry }]);
    });
    const px = packedPx(ttlMs);
    // A Redis Cluster takes one call per tree (each root is its own slot); one server takes many trees per call.
    const calls: Group[][] = [];
    let call: Group[] = [];
    let size = 0;
    for (const group of groups) {
      if (call.length > 0 && (this.cluster || size + group[1].length > MAX_DECISIONS_PER_CALL)) {
        calls.push(call);
        call = [];
        size = 0;
      }
      call.push(group);
      size += group[1].length;
    }
    if (call.length > 0) calls.push(call);
    await Promise.all([
      ...alone,
      ...calls.map(async (trees) => {
        const keys: string[] = [];
        const args: Array<string | number> = [px, this.cluster ? '0' : '1'];
        for (const [root, group] of trees) {
          keys.push(root);
          if (!this.cluster) for (const g of group) keys.push(this.base + g.entry.key);
          args.push(this.treeBase(root), group.length);
          for (const g of group) args.push(packedFieldArg(g.field), g.entry.value);
        }
        const values = await DECIDE_PACKED_MANY.run(this.redis, keys, args);
        const expected = trees.reduce((n, [, group]) => n + group.length, 0);
        if (!Array.isArray(values) || values.length !== expected) throw new RelayError('INTERNAL', 'decision script returned no values', { trees: trees.length });
        let i = 0;
        for (const [, group] of trees) for (const g of group) out[g.index] = String(values[i++]);
      }),
    ]);
    return out;
  }

  async recall(key: string, placement?: DecisionPlacement): Promise<string | null> {
    const old = await this.redis.get(this.base + key);
    if (old !== null || !placement) return old;
    const field = packedField(key);
    const root = this.packedKey(field, placement);
    const value = await RECALL_PACKED.run(this.redis, [root], [packedFieldArg(field), this.treeBase(root)]);
    return typeof value === 'string' ? value : null;
  }

  /**
   * Where a decision with a placement is kept, for scripts that take it beside other work on one server: the packed
   * tree's root and base, the key's field, and the key a relay before packing kept it under. The tree's expiry is
   * {@link treePx}.
   */
  placeOf(key: string, placement: DecisionPlacement): DecisionPlace {
    const field = packedField(key);
    const root = this.packedKey(field, placement);
    return { root, base: this.treeBase(root), field, alone: this.base + key };
  }

  /** The expiry (ms, as Redis takes it) a script gives a decision tree it creates, for decisions kept `ttlMs`. */
  treePx(ttlMs: number): number {
    return packedPx(ttlMs);
  }

  /** The root of the packed tree a decision goes into. */
  private packedKey(field: Buffer, placement: DecisionPlacement): string {
    return `${this.packedBase}${Math.floor(placement.at / 60)}:${packedShard(field)}`;
  }

  private treeBase(root: string): string {
    return packedTreeBase(clientKeyPrefix(this.redis), this.prefix, root);
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }
}

/** A decision tree's expiry: its period is the minute. */
function packedPx(ttlMs: number): number {
  return packedTreePx(ttlMs, 60_000);
}

/** Where one decision is kept: see {@link RedisDedupStore.placeOf}. */
export interface DecisionPlace {
  root: string;
  base: string;
  field: Buffer;
  alone: string;
}

/** The decisions of one packed tree: its root, then each decision with its place in the caller's list. */
type Group = [root: string, decisions: Array<{ index: number; field: Buffer; entry: DecisionRequest }>];
