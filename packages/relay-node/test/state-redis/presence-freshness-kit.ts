/**
 * Heartbeat freshness on a real Redis, run on one server and on a Redis Cluster: a node killed outright stays live
 * (and owning) until its alive key expires, but stops counting for load balancing two beats after its last one.
 */
import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import type { RedisClient } from '../../src/state/redis/redis-client.js';
import { RedisPresenceMap } from '../../src/state/redis/index.js';

/** The delivery service's defaults: a beat every 5 s, an alive key of three beats. */
const BEAT_MS = 5_000;
const TTL_MS = 3 * BEAT_MS;

const aliveKey = (prefix: string, nodeId: string) => `${prefix}{node:${nodeId}}:alive`;

/**
 * Puts a node's alive key where Redis would have it `ms` after the node's last beat. Redis's clock cannot be moved
 * and the test should not wait 10 s, so the key's remaining ttl is run down instead; its value stays the beat's.
 * The margins chosen below (2 s either side of the two-beat mark, 3 s before expiry) absorb a slow machine.
 */
async function lastBeatAgo(redis: RedisClient, prefix: string, nodeId: string, ms: number): Promise<void> {
  expect(await redis.pexpire(aliveKey(prefix, nodeId), TTL_MS - ms)).toBe(1);
}

/** The freshness suite on the client `redis()` returns (read inside the tests, once the server is up). */
export function presenceFreshnessSuite(name: string, redis: () => RedisClient): void {
  describe(`presence freshness: ${name}`, () => {
    it('a node that stopped beating stays live and owning until its ttl, but is stale once its last beat is two beats old', async () => {
      const prefix = uniquePrefix('fresh');
      const presence = new RedisPresenceMap({ redis: redis(), prefix });
      await presence.heartbeat('node-a', TTL_MS);
      await presence.heartbeat('node-dead', TTL_MS);
      await presence.claim('gw-1', 'node-dead');

      await lastBeatAgo(redis(), prefix, 'node-dead', 2 * BEAT_MS - 2_000);
      expect(await presence.liveNodes()).toEqual([
        { nodeId: 'node-a', gateways: 0, fresh: true },
        { nodeId: 'node-dead', gateways: 1, fresh: true },
      ]);

      await lastBeatAgo(redis(), prefix, 'node-dead', 2 * BEAT_MS + 2_000);
      expect(await presence.liveNodes()).toEqual([
        { nodeId: 'node-a', gateways: 0, fresh: true },
        { nodeId: 'node-dead', gateways: 1, fresh: false },
      ]);
      // Ownership still goes by the alive key alone, as before.
      expect(await presence.lookup('gw-1')).toMatchObject({ nodeId: 'node-dead' });
      expect(await presence.details('gw-1')).toMatchObject({ owner: { nodeId: 'node-dead' } });
      expect(await presence.ownedBy('node-dead')).toEqual(['gw-1']);
      expect(await presence.countOwnedBy('node-dead')).toBe(1);
      expect((await presence.claim('gw-1', 'node-a')).previous).toMatchObject({ nodeId: 'node-dead' });

      // A beat, however late, makes it fresh again.
      expect(await presence.heartbeat('node-dead', TTL_MS)).toBe(true);
      expect(await presence.liveNodes()).toEqual([
        { nodeId: 'node-a', gateways: 1, fresh: true },
        { nodeId: 'node-dead', gateways: 0, fresh: true },
      ]);
    });

    it('a node of the previous version, whose alive key holds "1", counts as fresh as before', async () => {
      const prefix = uniquePrefix('fresh-old');
      const presence = new RedisPresenceMap({ redis: redis(), prefix });
      await presence.heartbeat('node-old', TTL_MS);
      await redis().set(aliveKey(prefix, 'node-old'), '1', 'PX', TTL_MS - 2 * BEAT_MS - 2_000);
      expect(await presence.liveNodes()).toEqual([{ nodeId: 'node-old', gateways: 0, fresh: true }]);
    });
  });
}
