/**
 * Heartbeat freshness on a real Redis, run on one server and on a Redis Cluster: a node killed outright stays live
 * (and owning) until its alive key expires, but stops counting for load balancing two beats after its last one.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import { Rebalancer } from '../../src/delivery/rebalancer.js';
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

/** A survivor's rebalancer on its own presence map, with the cluster's defaults (5 per interval, 20 %). */
function rebalancerOf(nodeId: string, presence: RedisPresenceMap, local: number, shed: number[]): Rebalancer {
  return new Rebalancer({
    nodeId,
    presence,
    intervalMs: 10_000,
    maxPerInterval: 5,
    tolerancePercent: 20,
    localCount: () => local,
    shed: (n) => {
      shed.push(n);
      return n;
    },
    logger: pino({ level: 'silent' }),
  });
}

/** Gives `count` gateways to nodeId (claims, as attaches do). */
async function claimMany(presence: RedisPresenceMap, nodeId: string, label: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await presence.claim(`gw-${label}-${i}`, nodeId);
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

    it('survivors of a killed node shed nothing while its alive key runs out', async () => {
      const prefix = uniquePrefix('fresh-kill');
      const atA = new RedisPresenceMap({ redis: redis(), prefix });
      const atB = new RedisPresenceMap({ redis: redis(), prefix });
      const atC = new RedisPresenceMap({ redis: redis(), prefix });
      for (const [presence, node] of [[atA, 'node-a'], [atB, 'node-b'], [atC, 'node-c']] as const) {
        await presence.heartbeat(node, TTL_MS);
        await claimMany(presence, node, node, 10);
      }
      // node-c is killed: its ten gateways reconnect to the survivors, five each, and are claimed there.
      for (let i = 0; i < 10; i++) await (i % 2 === 0 ? atA : atB).claim(`gw-node-c-${i}`, i % 2 === 0 ? 'node-a' : 'node-b');
      await lastBeatAgo(redis(), prefix, 'node-c', 2 * BEAT_MS + 2_000);
      // Still live, holding nothing now.
      expect((await atA.liveNodes()).map((n) => [n.nodeId, n.gateways])).toEqual([['node-a', 15], ['node-b', 15], ['node-c', 0]]);
      // Counted, node-c's empty share would put the average at 10 (tolerance 12): each survivor would close 5.
      const shed: number[] = [];
      expect(await rebalancerOf('node-a', atA, 15, shed).tick()).toBe(0);
      expect(await rebalancerOf('node-b', atB, 15, shed).tick()).toBe(0);
      expect(shed).toEqual([]);
    });

    it('a node with a fresh beat still counts: a new, empty node makes the full ones shed', async () => {
      const prefix = uniquePrefix('fresh-join');
      const atA = new RedisPresenceMap({ redis: redis(), prefix });
      const atB = new RedisPresenceMap({ redis: redis(), prefix });
      const atNew = new RedisPresenceMap({ redis: redis(), prefix });
      await atA.heartbeat('node-a', TTL_MS);
      await atB.heartbeat('node-b', TTL_MS);
      await claimMany(atA, 'node-a', 'a', 15);
      await claimMany(atB, 'node-b', 'b', 15);
      await atNew.heartbeat('node-new', TTL_MS);
      // Its last beat a beat and a half ago, late but within two beats.
      await lastBeatAgo(redis(), prefix, 'node-new', BEAT_MS + BEAT_MS / 2);
      const shed: number[] = [];
      // Average 10 (tolerance 12): each full node closes 5, the most per interval.
      expect(await rebalancerOf('node-a', atA, 15, shed).tick()).toBe(5);
      expect(await rebalancerOf('node-b', atB, 15, shed).tick()).toBe(5);
      expect(shed).toEqual([5, 5]);
    });
  });
}
