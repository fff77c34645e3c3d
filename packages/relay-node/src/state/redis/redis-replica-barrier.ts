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
 * A step run before the sync cursor moves past a page: `WAIT 1 <timeout>` on the connection this node wrote
 * through, on every master of a Redis Cluster or on the one master of a single Redis / Sentinel group, so the
 * page's appends (and everything else written before) are on a replica too. A master SIGKILLed right after cannot
 * take them with it: its promoted replica has them, or the cursor stayed behind and the page is pulled again
 * (appends are idempotent per msgid). WAIT returns at once on a master this node wrote nothing new to, so in effect
 * only the shards the page touched are waited on, in parallel.
 *
 * A master with no connected replica cannot be waited on; it is let through with a warning (a failover is then
 * impossible anyway, and refusing would stop every pull until a replica came back). So a master is asked how many
 * replicas it has (`INFO replication`) until it is seen with one, and from then on waited on without asking again
 * until a wait goes unacknowledged: that round trip sat between every page's route and its commit, on the pull's
 * critical path. A replica that connects is waited on from the next page, as before; a master whose replicas are gone
 * refuses one commit (the wait times out), then is asked again. A single Redis run without replicas on purpose
 * therefore pays one round trip per page and nothing else.
 */
export function replicaBarrier(redis: RedisClient, o: ReplicaBarrierOptions): () => Promise<void> {
  const timeoutMs = o.timeoutMs ?? REPLICA_BARRIER_TIMEOUT_MS;
  const warned = new Set<string>();
  // Masters last seen with a replica, by address.
  const replicated = new Set<string>();
  return async () => {
    // One connection per master: WAIT counts the writes made on the connection it is sent on, which is the one
    // every command of this node went through (a Sentinel client follows the master to the same effect).
    const masters: Redis[] = redis instanceof Cluster ? redis.nodes('master') : [redis];
    await Promise.all(
      masters.map(async (node) => {
        const address = `${node.options.host ?? '?'}:${node.options.port ?? '?'}`;
        if (!replicated.has(address)) {
          // Asked first: WAIT on a master without replicas would block for the whole timeout on every page.
          if ((await connectedReplicas(node)) === 0) {
            if (!warned.has(address)) o.logger.warn({ address }, 'a Redis master has no connected replica; its writes are not waited on');
            warned.add(address);
            return;
          }
          warned.delete(address);
          replicated.add(address);
        }
        if (Number(await node.wait(1, timeoutMs)) >= 1) return;
        // Late, or gone: asked again at the next commit.
        replicated.delete(address);
        throw new RelayError('STATE_NOT_REPLICATED', `writes to the Redis master ${address} did not reach a replica within ${timeoutMs} ms`);
      }),
    );
  };
}

async function connectedReplicas(node: Redis): Promise<number> {
  const info = String(await node.info('replication'));
  const match = /connected_slaves:(\d+)/.exec(info);
  return match ? Number(match[1]) : 0;
}
