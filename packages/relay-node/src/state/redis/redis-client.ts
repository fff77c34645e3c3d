import type { Cluster, Redis } from 'ioredis';

/**
 * The client the Redis stores run on: one server or a Sentinel group (`Redis`), or a Redis Cluster (`Cluster`).
 * Every key a command or script names shares one hash slot, so each store works unchanged on either.
 */
export type RedisClient = Redis | Cluster;

/** Whether the client talks to a Redis Cluster (sharded pub/sub, per-shard checks). */
export function isClusterClient(client: RedisClient): client is Cluster {
  return client.isCluster === true;
}
