import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, uniquePrefix, type RedisClusterHandle } from '@wecom-relay/testkit';
import { RedisShardedNodeBus } from '../../src/state/redis/index.js';
import type { BusMessage } from '../../src/state/node-bus.js';
import { capturingLogger, waitFor } from './helpers.js';

// The sharded bus' stand-in for the subscriber PING: probes published to the node's own channel must echo back.
let cluster: RedisClusterHandle;
let redis: Cluster;
const buses: RedisShardedNodeBus[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  redis = new Cluster(
    cluster.seeds.map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) })),
    { enableAutoPipelining: true },
  );
  redis.on('error', () => undefined);
}, 60_000);

afterAll(async () => {
  for (const b of buses.splice(0)) await b.close();
  redis?.disconnect();
  await cluster?.stop();
});

describe('RedisShardedNodeBus health', () => {
  it('is live only while its probes echo, and a subscriber that hears nothing is replaced by one that does', async () => {
    const { logger, records } = capturingLogger();
    const prefix = uniquePrefix('bus-health');
    const health = { pingIntervalMs: 50, staleAfterMs: 400, reconnectAfterMs: 800 };
    const bus = new RedisShardedNodeBus({ redis, prefix, logger, health });
    const sender = new RedisShardedNodeBus({ redis, prefix, logger });
    buses.push(bus, sender);
    const got: BusMessage[] = [];
    await bus.subscribe('node-a', (m) => got.push(m));
    await waitFor(() => bus.isLive(), 'the bus to be live');

    // A subscriber that stops hearing its channel (its socket silently dead) while Redis still takes the probes.
    const silenced = (bus as unknown as { subscriber: Cluster }).subscriber;
    silenced.removeAllListeners('smessage');
    await waitFor(() => !bus.isLive(), 'the bus to report itself not live', 15_000);
    await waitFor(() => bus.isLive(), 'a fresh subscriber to make the bus live again', 30_000);
    expect((bus as unknown as { subscriber: Cluster }).subscriber).not.toBe(silenced);
    expect(records.some((r) => r.msg === 'node bus subscriber has echoed nothing for too long; subscribing again')).toBe(true);

    // The fresh subscriber delivers real messages, and probes never reach the handler.
    expect(await sender.publish('node-a', { kind: 'wake', gatewayId: 'gw-1', sentAt: 1 })).toBe(true);
    await waitFor(() => got.length > 0, 'the wake-up to arrive');
    expect(got).toEqual([{ kind: 'wake', gatewayId: 'gw-1', sentAt: 1 }]);
  }, 90_000);
});
