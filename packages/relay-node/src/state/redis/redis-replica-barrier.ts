import { Cluster, type Redis } from 'ioredis';
import { RelayError } from '../../errors/relay-error.js';
import type { RedisClient } from './redis-client.js';
import type { StateLogger } from './state-logger.js';

/** How long WAIT blocks per master by default before a cursor commit is refused (README states it). */
export const REPLICA_BARRIER_TIMEOUT_MS = 1_000;

/** Options for {@link replicaBarrier}. */
export interface ReplicaBarrierOptions {
  /** How long WAIT may block per master before the commit is refused (and the page pulled again); default 1000 ms. */
  timeoutMs?: number;
  logger: StateLogger;
}

/**
 * What a cursor commit goes through (see {@link replicaBarrier}). On one server the question "has the master a
 * replica?" can ride with the commit itself: the commit script asks INFO and commits only where none is connected.
 */
export interface CommitBarrier {
  /**
   * Runs before a commit: waits on every master known to have a replica and, on a Redis Cluster, asks the others.
   * Resolves true where the commit script is to ask the one master itself, and commit only if it has no replica.
   */
  beforeCommit(): Promise<boolean>;
  /** What the commit script found when it asked: how many replicas were connected (it committed only with none). */
  replicasFound(count: number): void;
}

/**
 * The step run before the sync cursor moves past a page: `WAIT 1 <timeout>` on the connection this node wrote
 * through, on every master of a Redis Cluster or on the one master of a single Redis / Sentinel group, so the
 * page's appends (and everything else written before) are on a replica too. A master SIGKILLed right after cannot
 * take them with it: its promoted replica has them, or the cursor stayed behind and the page is pulled again
 * (appends are idempotent per msgid). WAIT returns at once on a master this node wrote nothing new to, so in effect
 * only the shards the page touched are waited on, in parallel.
 *
 * A master with no connected replica cannot be waited on; it is let through with a warning (a failover is then
 * impossible anyway, and refusing would stop every pull until a replica came back). So a master is asked how many
 * replicas it has (`INFO replication`) until it is seen with one, and from then on waited on without asking again
 * until a wait goes unacknowledged (that commit is refused, and the master asked again at the next). On one server the
 * commit script asks, in the same step as the commit, and answers instead of committing where a replica is connected:
 * the replica is then waited on and the commit sent again. A round trip to ask sat between every page's route and its
 * commit, on the pull's critical path; a single Redis run without replicas on purpose now pays none. A Redis Cluster's
 * masters are asked apart, before the commit (its script runs on one of them only).
 */
export function replicaBarrier(redis: RedisClient, o: ReplicaBarrierOptions): CommitBarrier {
  const timeoutMs = o.timeoutMs ?? REPLICA_BARRIER_TIMEOUT_MS;
  const warned = new Set<string>();
  // Masters last seen with a replica, by address.
  const replicated = new Set<string>();
  const cluster = redis instanceof Cluster;
  const addressOf = (node: Redis): string => `${node.options.host ?? '?'}:${node.options.port ?? '?'}`;
  const noReplica = (address: string): void => {
    if (!warned.has(address)) o.logger.warn({ address }, 'a Redis master has no connected replica; its writes are not waited on');
    warned.add(address);
  };
  const seenWithReplica = (address: string): void => {
    warned.delete(address);
    replicated.add(address);
  };
  const waitOn = async (node: Redis, address: string): Promise<void> => {
    if (Number(await node.wait(1, timeoutMs)) >= 1) return;
    // Late, or gone: asked again at the next commit.
    replicated.delete(address);
    throw new RelayError('STATE_NOT_REPLICATED', `writes to the Redis master ${address} did not reach a replica within ${timeoutMs} ms`);
  };
  return {
    async beforeCommit() {
      if (!cluster) {
        // One connection: WAIT counts the writes made on the connection it is sent on, which is the one every command
        // of this node went through (a Sentinel client follows the master to the same effect).
        const node = redis as Redis;
        const address = addressOf(node);
        if (!replicated.has(address)) return true;
        await waitOn(node, address);
        return false;
      }
      await Promise.all(
        (redis as Cluster).nodes('master').map(async (node) => {
          const address = addressOf(node);
          if (!replicated.has(address)) {
            // Asked first: WAIT on a master without replicas would block for the whole timeout on every page.
            if ((await connectedReplicas(node)) === 0) return noReplica(address);
            seenWithReplica(address);
          }
          await waitOn(node, address);
        }),
      );
      return false;
    },
    replicasFound(count) {
      const address = addressOf(redis as Redis);
      if (count === 0) noReplica(address);
      else seenWithReplica(address);
    },
  };
}

async function connectedReplicas(node: Redis): Promise<number> {
  const info = String(await node.info('replication'));
  const match = /connected_slaves:(\d+)/.exec(info);
  return match ? Number(match[1]) : 0;
}
