import { createHash } from 'node:crypto';

/**
 * How many hashes one minute's packed decisions are spread over. Redis keeps a hash of up to
 * `hash-max-listpack-entries` (128 by default) short fields in its compact encoding; 64 shards keep a minute's
 * decisions compact up to about 64 × 128 / 60 ≈ 130 messages a second, and past that they still work, only larger.
 */
export const PACKED_SHARDS = 64;

/**
 * A key as a field of a packed hash: the first 12 bytes of its SHA-1, so a field costs 12 bytes whatever the key's
 * length. Two keys of one hash (one minute, one shard, or one gateway's hour) share a field with odds of about
 * n² / 2⁹⁷ for n keys: nil in practice.
 */
export function packedField(key: string): Buffer {
  return createHash('sha1').update(key).digest().subarray(0, 12);
}

/** The shard of a key, stable across nodes and versions. */
export function packedShard(field: Buffer): number {
  return field.readUInt32BE(8) % PACKED_SHARDS;
}
