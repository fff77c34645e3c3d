import { Cluster, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../../config/relay-config.js';

/** The CLIENT SETNAME of a node's connections: `wecom-relay:<nodeId>:<role>`, so an operator's CLIENT LIST tells them apart. */
export function redisConnectionName(nodeId: string, role: 'commands' | 'bus'): string {
  return `wecom-relay:${nodeId}:${role}`;
}

/**
 * A Cluster client for REDIS_CLUSTER_NODES: `common` applies to every node connection; MOVED and ASK are followed
 * by ioredis, and scripts run by EVALSHA on the node of their keys' slot (falling back to EVAL on NOSCRIPT).
 * Auto-pipelining is left off whatever `common` asks: ioredis batches auto-pipelined commands per node and handles a
 * MOVED for the whole batch, so after a slot moved (resharding) commands for it kept going to the old node and
 * failing with MOVED instead of being redirected (test/cluster/redis-cluster.test.ts, slots moved under traffic).
 */
export function createClusterClient(
  target: Extract<RedisTarget, { kind: 'cluster' }>,
  common: Pick<RedisOptions, 'commandTimeout' | 'maxRetriesPerRequest' | 'retryStrategy' | 'enableReadyCheck' | 'enableAutoPipelining' | 'connectionName'>,
): Cluster {
  const { retryStrategy, enableReadyCheck, enableAutoPipelining: _batchingIgnored, ...perNode } = common;
  return new Cluster(
    target.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
      ...(enableReadyCheck !== undefined ? { enableReadyCheck } : {}),
      enableAutoPipelining: false,
      redisOptions: {
        ...perNode,
        ...(target.password ? { password: target.password } : {}),
        ...(target.tls ? { tls: {} } : {}),
      },
    },
  );
}
