import { hash } from 'node:crypto';

/**
 * How many packed trees (see packed-tree.ts) one minute's decisions are spread over: their roots alone hold
 * 64 × 128 decisions, a minute of about 130 messages a second; past that the trees grow below the roots.
 */
export const PACKED_SHARDS = 64;

/**
 * A key as a field of a packed hash: the first 12 bytes of its SHA-1, so a field costs 12 bytes whatever the key's
 * length. Two keys of one hash (one minute, one shard, or one gateway's hour) share a field with odds of about
 * n² / 2⁹⁷ for n keys: nil in practice.
 */
export function packedField(key: string): Buffer {
  // The one-shot hash: two per routed message, and a Hash object each costs about three times as much.
  return hash('sha1', key, 'buffer').subarray(0, 12);
}

/** The shard of a key, stable across nodes and versions. */
export function packedShard(field: Buffer): number {
  return field.readUInt32BE(8) % PACKED_SHARDS;
}
