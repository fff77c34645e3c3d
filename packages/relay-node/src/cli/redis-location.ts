import { Cluster, Redis } from 'ioredis';
import type { RedisClient } from '../state/redis/redis-client.js';
import { followRedirectsInBatches } from '../state/redis/redis-cluster-client.js';

/** A Redis the operator tools were pointed at, connected. */
export interface OpenedRedis {
  redis: RedisClient;
  /** A Redis Cluster (bindings spread per user, as the cluster's nodes keep them). */
  cluster: boolean;
  close(): Promise<void>;
}

const CLUSTER_SCHEME = /^rediss?-cluster:\/\//;

/**
 * True for the Redis locations the operator tools take: `redis://` / `rediss://` (one Redis) and
 * `redis-cluster://host:port,host:port` / `rediss-cluster://...` (a Redis Cluster's seed nodes).
 */
export function isRedisLocation(location: string): boolean {
  return /^rediss?:\/\//.test(location) || CLUSTER_SCHEME.test(location);
}

/** Connects to a location {@link isRedisLocation} accepts; a cluster takes REDIS_PASSWORD from the environment. */
export async function openRedisLocation(location: string, env: NodeJS.ProcessEnv = process.env): Promise<OpenedRedis> {
  if (CLUSTER_SCHEME.test(location)) {
    const tls = location.startsWith('rediss-');
    const seeds = location.replace(CLUSTER_SCHEME, '').split(',').map((pair) => {
      const at = pair.lastIndexOf(':');
      return { host: pair.slice(0, at), port: Number(pair.slice(at + 1)) };
    });
    const password = env.REDIS_PASSWORD;
    const cluster = new Cluster(seeds, {
      lazyConnect: true,
      enableAutoPipelining: true,
      redisOptions: { maxRetriesPerRequest: 2, ...(password ? { password } : {}), ...(tls ? { tls: {} } : {}) },
    });
    // Batched like the relay's own client, so redirected the same way while slots move.
    followRedirectsInBatches(cluster);
    await cluster.connect();
    return { redis: cluster, cluster: true, close: () => cluster.quit().then(() => undefined, () => cluster.disconnect()) };
  }
  if (!/^rediss?:\/\//.test(location)) throw new Error(`not a Redis location: use redis://host:port or redis-cluster://host:port,host:port`);
  const redis = new Redis(location, { maxRetriesPerRequest: 2, lazyConnect: true });
  await redis.connect();
  return { redis, cluster: false, close: () => redis.quit().then(() => undefined, () => redis.disconnect()) };
}
