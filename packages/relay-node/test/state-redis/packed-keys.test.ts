import { describe, expect, it } from 'vitest';
import { PACKED_SHARDS, packedField, packedShard } from '../../src/state/redis/packed-keys.js';

/**
 * Records already in Redis are found again only if every version computes the same field and shard for a key: a
 * change here would make a relay of the next version miss the routing decisions and queue markers of this one.
 */
describe('packed record fields', () => {
  it('are the first 12 bytes of the SHA-1 of the key, and its shard is their last 4 bytes modulo 64', () => {
    // SHA-1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d (FIPS 180-2, appendix A.1).
    const field = packedField('abc');
    expect(field.toString('hex')).toBe('a9993e364706816aba3e2571');
    expect(PACKED_SHARDS).toBe(64);
    expect(packedShard(field)).toBe(0xba3e2571 % 64);
    // Keys are hashed as UTF-8, as WeCom's msgids and user ids arrive.
    expect(packedField('消息').toString('hex')).toBe('dc6de3fa868fe90d1ad1cd26');
  });
});
