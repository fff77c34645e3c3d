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
  keepSlotEntriesApart(cluster);
  followRedirectsInBatches(cluster);
  sendSplitBatchesOneByOne(cluster);
  return cluster;
}

/** Replies saying the server did not run the command and where (or when) to send it again. */
const NOT_RUN_REDIRECT = /^(MOVED|ASK|TRYAGAIN|CLUSTERDOWN) /;

/**
 * Makes a MOVED reply re-point only its own slot.
 *
 * ioredis keeps one node list per slot range, shared by every slot of the range, and on MOVED overwrites that
 * list's master in place: until the next slot-map refresh lands, every slot of the range (not only the moved one)
 * is sent to the new owner, each of those commands is redirected back, and batches grouped under the changed list
 * no longer pass ioredis's own check that their keys share a shard. Giving the moved slot its own copy of the list
 * first confines the change to that slot.
 */
export function keepSlotEntriesApart(cluster: Cluster): void {
  const handleError = cluster.handleError.bind(cluster);
  cluster.handleError = ((error, ttl, handlers) =>
    handleError(error, ttl, {
      ...handlers,
      moved: (slot: string, key: string) => {
        const nodes = cluster.slots[Number(slot)];
        if (nodes) cluster.slots[Number(slot)] = nodes.slice();
        handlers.moved(slot, key);
      },
    })) as Cluster['handleError'];
}

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

/** What ioredis rejects a whole batch with when, at send time, its keys no longer map to one shard. */
const SPANS_SHARDS = 'All keys in the pipeline should belong to the same slots allocation group';

/** One command's outcome in a batch's replies, as ioredis gives it: `[error]` or `[null, value]`. */
type Reply = [Error] | [null, unknown];

/** The parts of an ioredis pipeline read here (not in its typings). */
interface BatchInternals {
  _queue: Command[];
  exec(callback?: (err: Error | null, results?: Reply[]) => void): Promise<Reply[]>;
}

/**
 * Runs a batch whose keys no longer share a shard as separate commands instead of failing it.
 *
 * Auto-pipelining groups a tick's commands by the slot map at the time each is issued, and sends the group later
 * (after the tick, or after the previous batch to that shard answered). When a slot-map refresh lands in between
 * (a slot moved), ioredis refuses the whole batch without sending any of it. Those commands were never run, so
 * each is sent alone, routed by the current map, MOVED and ASK followed as usual; the batch's callers get their
 * replies as if the batch had gone through. Transactions are not split (they are not built on `pipeline()`).
 */
export function sendSplitBatchesOneByOne(cluster: Cluster): void {
  const pipeline = cluster.pipeline.bind(cluster);
  cluster.pipeline = ((commands?: unknown[][]) => {
    const batch = pipeline(commands) as unknown as BatchInternals;
    const exec = batch.exec.bind(batch);
    batch.exec = (callback) => {
      const done = new Promise<Reply[]>((resolve, reject) => {
        void exec((err, results) => {
          if (!err) resolve(results ?? []);
          else if (err.message === SPANS_SHARDS && !batch._queue.some((c) => c.inTransaction)) resolve(sendEachAlone(cluster, batch._queue));
          else reject(err);
        });
      });
      if (callback) done.then((results) => callback(null, results), (err: Error) => callback(err));
      return done;
    };
    return batch as unknown as ReturnType<Cluster['pipeline']>;
  }) as Cluster['pipeline'];
}

function sendEachAlone(cluster: Cluster, queue: readonly Command[]): Promise<Reply[]> {
  // ASKING entries a retried batch inserted only made sense in front of the batch's next command on that node.
  const commands = queue.filter((c) => !c.ignore);
  for (const command of commands) void cluster.sendCommand(command);
  return Promise.all(commands.map((c) => c.promise.then((value): Reply => [null, value], (err: Error): Reply => [err])));
}
