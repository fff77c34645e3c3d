import { randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';
import { RedisDedupStore, RedisPendingBindingStore } from '../../src/state/redis/index.js';

/** What issue 8 adds to Redis, measured with MEMORY USAGE on a real server. */
let server: RedisHandle;
let redis: Redis;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

describe('Redis footprint of binding tokens and routing decisions', () => {
  it('a routing decision is one small string per message (WeCom-sized msgid, UUID-sized gateway id)', async () => {
    // The production prefix and a WeCom-shaped msgid (random digits, so a shared REDIS_URL server is safe).
    const dedup = new RedisDedupStore({ redis, prefix: 'wr:' });
    const msgid = `from_msgid_${randomInt(1e9, 1e10 - 1)}${randomInt(1e9, 1e10 - 1)}`;
    const key = `wr:dedup:r:${msgid}`;
    try {
      await dedup.decide(`r:${msgid}`, '>3f2b8c1e-6d4a-4f7e-9b2a-1c5d8e7f6a90', 4 * 24 * 3600_000);
      const bytes = Number(await redis.memory('USAGE', key));
      console.log(`routing decision record: ${bytes} bytes (MEMORY USAGE of one decision key)`);
      expect(bytes).toBeGreaterThan(0);
      // One Redis string: key, short value, dict and expiry overhead; a guard against growing it into a record.
      expect(bytes).toBeLessThanOrEqual(160);
    } finally {
      await redis.del(key);
    }
  });

  it('a gateway at the live-token cap holds a bounded amount of Redis', async () => {
    const prefix = uniquePrefix('footprint-tokens');
    const pending = new RedisPendingBindingStore({ redis, prefix });
    const before = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
    const limits = { reuseWithinMs: 0, maxLive: 100, ratePerWindow: 1_000_000, rateWindowMs: 60_000 };
    let created = 0;
    for (let i = 0; i < 5_000; i++) {
      const r = await pending.issue(i.toString(16).padStart(8, '0'), 'gw-flooder', 600_000, limits);
      if (r.outcome === 'created') created++;
    }
    const after = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1]);
    console.log(`binding tokens at the cap: requests=5000 created=${created} redis_used_memory_delta_bytes=${after - before}`);
    expect(created).toBe(100);
    expect(after - before).toBeLessThan(1024 * 1024);
  });
});
