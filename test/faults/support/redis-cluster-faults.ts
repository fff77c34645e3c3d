import type { RedisClusterHandle, RedisClusterNode } from '@wecom-relay/testkit';
import type { FaultCluster } from './fault-cluster.js';
import type { FaultFigures } from './redis-load-scenario.js';

/** The Redis Cluster under a fault cluster; throws on one Redis. */
export function clusterOf(cluster: FaultCluster): RedisClusterHandle {
  if (!cluster.redisCluster) throw new Error('this scenario needs the fault cluster on a Redis Cluster');
  return cluster.redisCluster;
}

/** The master serving the kf account's sync state (lease, cursor): the state a failover could rewind. */
export async function kfMaster(cluster: FaultCluster): Promise<RedisClusterNode> {
  return clusterOf(cluster).masterOf(`${cluster.keyPrefix}{kf:${cluster.corp.openKfid}}:cursor`);
}

/**
 * Of the masters that still have a replica (so a failover can follow a kill), the one serving the most of these
 * gateways' delivery queues, and how many it serves (0 when none of them lives on such a master).
 */
export async function busiestQueueMaster(cluster: FaultCluster, gatewayIds: readonly string[]): Promise<{ master: RedisClusterNode; queues: number }> {
  const redis = clusterOf(cluster);
  const count = new Map<number, number>();
  for (const id of gatewayIds) {
    const master = await redis.masterOf(`${cluster.keyPrefix}{gw:${id}}:queue`);
    count.set(master.port, (count.get(master.port) ?? 0) + 1);
  }
  const candidates: Array<{ master: RedisClusterNode; queues: number }> = [];
  for (const master of await redis.masters()) {
    if ((await redis.replicasOf(master)).length > 0) candidates.push({ master, queues: count.get(master.port) ?? 0 });
  }
  const best = candidates.sort((a, b) => b.queues - a.queues)[0];
  if (!best) throw new Error('no master of the cluster has a replica left');
  return best;
}

/** SIGKILLs a master and resolves once its replica took over and the cluster is ok again. */
export async function killMaster(cluster: FaultCluster, master: RedisClusterNode, what: string): Promise<FaultFigures> {
  const redis = clusterOf(cluster);
  const replicas = await redis.replicasOf(master);
  if (replicas.length === 0) throw new Error(`master :${master.port} has no replica to promote`);
  const before = Date.now();
  await master.kill();
  await redis.waitHealthy();
  const promoted = (await redis.masters()).find((m) => replicas.some((r) => r.port === m.port));
  if (!promoted) throw new Error(`no replica of :${master.port} was promoted`);
  return { [`${what} master killed`]: `:${master.port} → :${promoted.port} in ${Date.now() - before} ms` };
}
