/** The Redis under a run: one redis-server, or a 3-master/3-replica Redis Cluster, with its stats per shard. */
import { Cluster, Redis } from 'ioredis';
import { startRedis, startRedisCluster, type RedisClusterHandle, type RedisHandle } from '@wecom-relay/testkit';
import { commandStats, readsProcessed, redisPid, sumCommandStats, usedMemory, type CommandStat } from '../lib/redis-stats.js';
import type { Measured } from './measured.js';

/** One Redis (single) or a cluster, started for the bench and owned by it. */
export interface RedisBackend {
  readonly kind: 'single' | 'cluster';
  /** The environment a relay node needs to use it (REDIS_URL or REDIS_CLUSTER_NODES). */
  readonly env: Record<string, string>;
  /** A client for seeding data (bindings). */
  readonly client: Redis | Cluster;
  /** The redis-server processes, each tagged with its shard. */
  readonly processes: Measured[];
  /** Shard names (master host:port), in a stable order. */
  readonly shards: string[];
  /** INFO commandstats summed over the masters. */
  commandStats(): Promise<Map<string, CommandStat>>;
  /** used_memory summed over the masters. */
  usedMemory(): Promise<number>;
  /** total_reads_processed (client round trips) summed over the masters. */
  readsProcessed(): Promise<number>;
  /** Empties every master and zeroes the stats, between phases. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

async function masterClients(cluster: RedisClusterHandle): Promise<Redis[]> {
  return (await cluster.masters()).map((m) => new Redis({ host: m.host, port: m.port, maxRetriesPerRequest: 1 }));
}

/** Starts the Redis a run asked for; fails clearly (testkit's errors say what is missing) rather than hanging. */
export async function startRedisBackend(kind: 'single' | 'cluster'): Promise<RedisBackend> {
  if (kind === 'single') {
    // The bench's own server even when REDIS_URL names a shared one: it reads that server's CPU and resets it.
    const server: RedisHandle = await startRedis({ restartable: true });
    const client = new Redis(server.url);
    const pid = await redisPid(client);
    const shard = `${server.host}:${server.port}`;
    return {
      kind,
      env: { REDIS_URL: server.url },
      client,
      processes: [{ name: `redis ${shard}`, role: 'redis', shard, selector: { pid } }],
      shards: [shard],
      commandStats: () => commandStats(client),
      usedMemory: () => usedMemory(client),
      readsProcessed: () => readsProcessed(client),
      reset: async () => {
        await client.flushall();
        await client.config('RESETSTAT');
      },
      stop: async () => {
        client.disconnect();
        await server.stop();
      },
    };
  }
  // A loaded 2-core machine can leave a master silent for over a second: the tests' 1 s failover timeout would
  // promote a replica mid-run, which is not what the bench measures.
  const cluster = await startRedisCluster({ nodeTimeoutMs: 15_000 });
  const masters = await cluster.masters();
  const clients = await masterClients(cluster);
  const processes: Measured[] = [];
  const shards: string[] = [];
  for (const [i, m] of masters.entries()) {
    const shard = `${m.host}:${m.port}`;
    shards.push(shard);
    processes.push({ name: `redis ${shard} (master)`, role: 'redis', shard, selector: { pid: await redisPid(clients[i]!) } });
    for (const r of await cluster.replicasOf(m)) {
      if (r.pid !== null) processes.push({ name: `redis ${r.host}:${r.port} (replica of ${shard})`, role: 'redis', shard, replica: true, selector: { pid: r.pid } });
    }
  }
  const seedClient = new Cluster(masters.map((m) => ({ host: m.host, port: m.port })));
  return {
    kind,
    env: { REDIS_CLUSTER_NODES: cluster.seeds.join(',') },
    client: seedClient,
    processes,
    shards,
    commandStats: async () => sumCommandStats(await Promise.all(clients.map((c) => commandStats(c)))),
    usedMemory: async () => (await Promise.all(clients.map((c) => usedMemory(c)))).reduce((a, b) => a + b, 0),
    readsProcessed: async () => (await Promise.all(clients.map((c) => readsProcessed(c)))).reduce((a, b) => a + b, 0),
    reset: async () => {
      await Promise.all(clients.map((c) => c.flushall()));
      await Promise.all(clients.map((c) => c.config('RESETSTAT')));
    },
    stop: async () => {
      seedClient.disconnect();
      for (const c of clients) c.disconnect();
      await cluster.stop();
    },
  };
}
