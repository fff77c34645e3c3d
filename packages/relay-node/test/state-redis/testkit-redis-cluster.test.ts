import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterHandle } from '@wecom-relay/testkit';
import { waitFor } from './helpers.js';

// One cluster for the whole file: starting six servers is the slow part.
let cluster: RedisClusterHandle;
let client: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = new Cluster(cluster.seeds.map((s) => ({ host: s.split(':')[0], port: Number(s.split(':')[1]) })));
  client.on('error', () => undefined);
  // A command sent while the client still learns the cluster can meet a connection it drops and remakes, and fail with
  // "Connection is closed" (seen once on a loaded CI machine): the tests start from a client that is ready.
  await waitFor(() => client.status === 'ready', 'the cluster client to be ready', 30_000);
}, 60_000);

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

describe('test kit Redis Cluster', () => {
  it('starts six nodes, three of them masters, all serving every slot', async () => {
    expect(cluster.seeds).toHaveLength(6);
    expect(new Set(cluster.nodes.map((n) => n.pid)).size).toBe(6);
    expect(await cluster.masters()).toHaveLength(3);
    const info = (await client.cluster('INFO')) as string;
    expect(info).toMatch(/cluster_state:ok/);
    expect(info).toMatch(/cluster_size:3/);
  });

  it('gives every master a replica, also with the long node timeout the bench uses', { timeout: 60_000 }, async () => {
    for (const master of await cluster.masters()) expect(await cluster.replicasOf(master)).toHaveLength(1);
    // With a 15 s cluster-node-timeout, `redis-cli --cluster create` left all six nodes masters.
    const slow = await startRedisCluster({ nodeTimeoutMs: 15_000 });
    try {
      const masters = await slow.masters();
      expect(masters).toHaveLength(3);
      for (const master of masters) expect(await slow.replicasOf(master)).toHaveLength(1);
    } finally {
      await slow.stop();
    }
  });

  it('spreads keys over the shards and refuses a multi-slot command', async () => {
    const owners = new Set<number>();
    for (let i = 0; i < 30; i += 1) {
      await client.set(`k${i}`, String(i));
      owners.add((await cluster.masterOf(`k${i}`)).port);
    }
    expect(owners.size).toBe(3);
    await expect(client.eval("return redis.call('GET', KEYS[1])", 2, '{a}x', '{b}x')).rejects.toThrow(/CROSSSLOT/);
  });

  it('promotes a replica when a master is SIGKILLed and keeps its writes', { timeout: 60_000 }, async () => {
    await client.set('{failover}k', 'kept');
    await client.wait(1, 5_000);
    const master = await cluster.masterOf('{failover}k');
    await master.kill();
    expect(master.pid).toBeNull();
    await cluster.waitHealthy();
    const promoted = await cluster.masterOf('{failover}k');
    expect(promoted.port).not.toBe(master.port);
    await waitFor(async () => (await client.get('{failover}k').catch(() => null)) === 'kept', 'the key through the promoted replica', 30_000);
  });

  it('stops every node', async () => {
    const pids = cluster.nodes.map((n) => n.pid).filter((p): p is number => p !== null);
    await cluster.stop();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
