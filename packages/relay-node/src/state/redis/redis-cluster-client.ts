import { Cluster, type Command, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../../config/relay-config.js';

/** The CLIENT SETNAME of a node's connections: `wecom-relay:<nodeId>:<role>`, so an operator's CLIENT LIST tells them apart. */
export function redisConnectionName(nodeId: string, role: 'commands' | 'bus'): string {
  return `wecom-relay:${nodeId}:${role}`;
}

/**
 * A Cluster client for REDIS_CLUSTER_NODES: `common` applies to every node connection; MOVED and ASK are followed
 * by ioredis, and scripts run by EVALSHA on the node of their keys' slot (falling back to EVAL on NOSCRIPT).
 * With `enableAutoPipelining` the commands issued in one tick travel as one batch per shard, which is what makes
 * a shard's Redis CPU per message fall as shards are added; {@link followRedirectsInBatches} keeps that batching
 * correct while slots move (resharding).
 */
export function createClusterClient(
  target: Extract<RedisTarget, { kind: 'cluster' }>,
  common: Pick<RedisOptions, 'commandTimeout' | 'maxRetriesPerRequest' | 'retryStrategy' | 'enableReadyCheck' | 'enableAutoPipelining' | 'connectionName'>,
): Cluster {
  // Batching is a Cluster option; the per-node connections (WAIT, preflight, SCAN) send their commands one by one.
  const { retryStrategy, enableReadyCheck, enableAutoPipelining, ...perNode } = common;
  const cluster = new Cluster(
    target.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
      ...(enableReadyCheck !== undefined ? { enableReadyCheck } : {}),
      ...(enableAutoPipelining !== undefined ? { enableAutoPipelining } : {}),
      redisOptions: {
        ...perNode,
        ...(target.password ? { password: target.password } : {}),
        ...(target.tls ? { tls: {} } : {}),
      },
    },
  );
  followRedirectsInBatches(cluster);
  return cluster;
}

/** Replies saying the server did not run the command and where (or when) to send it again. */
const NOT_RUN_REDIRECT = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;

/**
 * Makes a command of a batch that a shard answered with MOVED, ASK, TRYAGAIN or CLUSTERDOWN follow the
 * redirection as a command sent alone does.
 *
 * ioredis sends a batch (auto-pipelining groups a tick's commands per shard) to the node its slot map names and
 * retries it on MOVED/ASK only when every command of the batch failed alike and none of the others wrote. After a
 * slot moved, a batch mixing that slot with slots still on the node fails that slot's commands with MOVED, returns
 * the error to the caller and leaves the slot map stale, so later batches keep going to the old node.
 *
 * Here such a command is handed back to the Cluster alone, where ioredis follows MOVED (updating its slot map and
 * refreshing it), ASK (ASKING on the importing node), TRYAGAIN and CLUSTERDOWN (retried after a delay), up to
 * `maxRedirections`. Sending it again is safe, scripts included: those replies mean the server did not run it.
 * Commands inside MULTI/EXEC are left to ioredis, which retries the whole transaction (never one command of it).
 */
export function followRedirectsInBatches(cluster: Cluster): void {
  const send = cluster.sendCommand.bind(cluster);
  // A batch's commands reach sendCommand with the node chosen for the batch; a command sent alone comes without one.
  cluster.sendCommand = ((command: Command, stream?: unknown, node?: unknown) => {
    if (node !== undefined && !command.inTransaction && command.name !== 'multi' && command.name !== 'exec') {
      const reject = command.reject;
      command.reject = (err: Error) => {
        command.reject = reject;
        if (NOT_RUN_REDIRECT.test(err.message)) void send(command);
        else reject(err);
      };
    }
    return send(command, stream as never, node);
  }) as Cluster['sendCommand'];
}
