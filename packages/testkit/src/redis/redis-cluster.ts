import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { RedisTestkitError } from './redis-handle.js';
import { findRedisServerBinary, spawnRedisServer, type SpawnedRedis } from './redis-server-process.js';

const run = promisify(execFile);
// A safety net for a cluster that never settles (shared, loaded machine), not a statement about speed.
const SETTLE_DEADLINE_MS = 30_000;

/** One redis-server of a test cluster. */
export interface RedisClusterNode {
  readonly host: string;
  readonly port: number;
  /** The process id while it runs (SIGKILL it to fail a master over), else null. */
  readonly pid: number | null;
  /** Kills the process abruptly (SIGKILL) and waits for it to exit. */
  kill(): Promise<void>;
  /**
   * Stops the process if it runs (SIGTERM) and starts it again on its ports with its data directory: it rejoins the
   * cluster from its nodes.conf (as a replica when its replica took its slots meanwhile).
   */
  restart(): Promise<void>;
}

/** A Redis Cluster started by the test kit: 3 masters with one replica each on loopback. */
export interface RedisClusterHandle {
  /** `host:port` of every node, as REDIS_CLUSTER_NODES takes them. */
  readonly seeds: readonly string[];
  readonly nodes: readonly RedisClusterNode[];
  /** The nodes that are masters right now (asks the cluster). */
  masters(): Promise<RedisClusterNode[]>;
  /** The replicas of a master right now (asks the cluster). */
  replicasOf(master: RedisClusterNode): Promise<RedisClusterNode[]>;
  /** The node serving a key's slot as master right now. */
  masterOf(key: string): Promise<RedisClusterNode>;
  /** The hash slot of a key (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>;
  /**
   * Moves one slot, with its keys, to another master while clients keep using it, the way `redis-cli --cluster
   * reshard` does (SETSLOT IMPORTING/MIGRATING, MIGRATE in batches, SETSLOT NODE everywhere); resolves to the keys moved.
   */
  moveSlot(slot: number, to: RedisClusterNode): Promise<number>;
  /** Resolves once every running node (replicas too) names `owner` as the master of `slot`. */
  waitSlotOwner(slot: number, owner: RedisClusterNode): Promise<void>;
  /** Resolves once every live node reports cluster_state:ok, agrees on who serves every slot, and replicas are in sync. */
  waitHealthy(): Promise<void>;
  /** Stops every node and removes their data directories. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Milliseconds before a silent master is failed over (cluster-node-timeout); default 1000. */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  serverArgs?: readonly string[];
}

/**
 * Starts six redis-server processes with `cluster-enabled yes`, joins them with
 * `redis-cli --cluster create --cluster-replicas 1` and waits for `cluster_state:ok` everywhere.
 */
export async function startRedisCluster(opts: StartRedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const binary = findRedisServerBinary();
  const cli = binary ? findCli(binary) : null;
  if (!binary || !cli) {
    throw new RedisTestkitError(
      'REDIS_UNAVAILABLE',
      'A Redis Cluster test needs redis-server and redis-cli on PATH (or REDIS_SERVER_BIN with redis-cli beside it).',
    );
  }
  const servers: SpawnedRedis[] = [];
  const handle = new LocalRedisCluster(servers);
  try {
    const spawned = await Promise.all(
      Array.from({ length: 6 }, () =>
        spawnRedisServer({
          binary,
          appendOnly: false,
          secondPortArg: '--cluster-port',
          extraArgs: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', 'nodes.conf',
            '--cluster-node-timeout', String(opts.nodeTimeoutMs ?? 1_000),
            // A replica with stale data may still take over: a test kills masters on purpose.
            '--cluster-replica-validity-factor', '0',
            // Replicas sync at once instead of after the default 5 s wait for more replicas.
            '--repl-diskless-sync-delay', '0',
            ...(opts.serverArgs ?? []),
          ],
        }),
      ),
    );
    servers.push(...spawned);
    await run(cli, ['--cluster', 'create', ...handle.seeds, '--cluster-replicas', '1', '--cluster-yes'], {
      timeout: SETTLE_DEADLINE_MS,
    });
    await handle.attachReplicas();
    await handle.waitHealthy();
    return handle;
  } catch (err) {
    await handle.stop();
    throw err instanceof RedisTestkitError ? err : new RedisTestkitError('REDIS_START_FAILED', `Redis Cluster did not start: ${String(err)}`, { cause: err });
  }
}

function findCli(serverBinary: string): string | null {
  const candidate = join(dirname(serverBinary), 'redis-cli');
  try {
    accessSync(candidate, constants.X_OK);
    return candidate;
  } catch {
    return null;
  }
}

class LocalRedisCluster implements RedisClusterHandle {
  private stopped = false;

  constructor(private readonly servers: SpawnedRedis[]) {}

  get seeds(): string[] {
    return this.servers.map((s) => `${s.host}:${s.port}`);
  }

  get nodes(): RedisClusterNode[] {
    return this.servers;
  }

  async masters(): Promise<RedisClusterNode[]> {
    const shards = await this.slotMap();
    const ports = new Set(shards.map((s) => s.masterPort));
    return this.servers.filter((s) => ports.has(s.port));
  }

  async replicasOf(master: RedisClusterNode): Promise<RedisClusterNode[]> {
    const live = this.servers.find((s) => s.pid !== null);
    if (!live) return [];
    const nodes = parseClusterNodes(String(await withClient(live, (c) => c.call('CLUSTER', 'NODES'))));
    const masterId = nodes.find((n) => n.port === master.port)?.id;
    const ports = new Set(nodes.filter((n) => masterId !== undefined && n.masterId === masterId && !n.master).map((n) => n.port));
    return this.servers.filter((s) => ports.has(s.port));
  }

  async masterOf(key: string): Promise<RedisClusterNode> {
    const live = this.servers.find((s) => s.pid !== null);
    if (!live) throw new RedisTestkitError('REDIS_UNAVAILABLE', 'no node of the cluster is running');
    const slot = await withClient(live, (c) => c.call('CLUSTER', 'KEYSLOT', key)) as number;
    const shard = (await this.slotMap()).find((s) => slot >= s.from && slot <= s.to);
    const node = this.servers.find((s) => s.port === shard?.masterPort);
    if (!node) throw new RedisTestkitError('REDIS_UNAVAILABLE', `no master serves slot ${slot}`);
    return node;
  }

  async slotOf(key: string): Promise<number> {
    const live = this.servers.find((s) => s.pid !== null);
    if (!live) throw new RedisTestkitError('REDIS_UNAVAILABLE', 'no node of the cluster is running');
    return (await withClient(live, (c) => c.call('CLUSTER', 'KEYSLOT', key))) as number;
  }

  async moveSlot(slot: number, to: RedisClusterNode): Promise<number> {
    const shard = (await this.slotMap()).find((s) => slot >= s.from && slot <= s.to);
    const from = this.servers.find((s) => s.port === shard?.masterPort);
    if (!from) throw new RedisTestkitError('REDIS_UNAVAILABLE', `no master serves slot ${slot}`);
    if (from.port === to.port) return 0;
    const idOf = (node: RedisClusterNode) => withClient(node, (c) => c.call('CLUSTER', 'MYID')) as Promise<string>;
    const [fromId, toId] = [await idOf(from), await idOf(to)];
    await withClient(to, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', fromId));
    await withClient(from, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', toId));
    let moved = 0;
    for (;;) {
      const keys = (await withClient(from, (c) => c.call('CLUSTER', 'GETKEYSINSLOT', slot, 100))) as string[];
      if (keys.length === 0) break;
      await withClient(from, (c) => c.call('MIGRATE', to.host, to.port, '', 0, 5_000, 'KEYS', ...keys));
      moved += keys.length;
    }
    // The new owner first, then the old, then everyone else, as redis-cli does.
    for (const node of [to, from, ...(await this.masters()).filter((m) => m.port !== to.port && m.port !== from.port)]) {
      await withClient(node, (c) => c.call('CLUSTER', 'SETSLOT', slot, 'NODE', toId));
    }
    // Replicas learn the new owner by gossip: until they have, a client refreshing its slot map from one of them gets
    // the old owner back. A finished move is one every node agrees on.
    await this.waitSlotOwner(slot, to);
    return moved;
  }

  /** Resolves once every running node names `owner` as the master of `slot`. */
  async waitSlotOwner(slot: number, owner: RedisClusterNode): Promise<void> {
    const until = Date.now() + SETTLE_DEADLINE_MS;
    for (;;) {
      const views = await Promise.all(
        this.servers
          .filter((s) => s.pid !== null)
          .map(async (s) => {
            const reply = (await withClient(s, (c) => c.call('CLUSTER', 'SLOTS'))) as Array<[number, number, [string, number]]>;
            return reply.find(([from, to]) => slot >= from && slot <= to)?.[2][1];
          }),
      );
      if (views.every((port) => Number(port) === owner.port)) return;
      if (Date.now() > until) throw new RedisTestkitError('REDIS_START_FAILED', `not every node names ${owner.port} as the owner of slot ${slot}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async waitHealthy(): Promise<void> {
    const until = Date.now() + SETTLE_DEADLINE_MS;
    let last = '';
    while (Date.now() < until) {
      try {
        if (await this.healthy()) return;
      } catch (err) {
        last = String(err);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new RedisTestkitError('REDIS_START_FAILED', `Redis Cluster did not reach cluster_state:ok ${last}`);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.servers.map((s) => s.stop()));
  }

  private async healthy(): Promise<boolean> {
    const live = this.servers.filter((s) => s.pid !== null);
    const views = await Promise.all(
      live.map((s) =>
        withClient(s, async (c) => {
          const info = (await c.call('CLUSTER', 'INFO')) as string;
          const slots = JSON.stringify(await c.call('CLUSTER', 'SLOTS'));
          // A replica still loading its first copy (wait_bgsave, send_bulk) cannot acknowledge writes yet.
          const replication = String(await c.info('replication'));
          const replicasOnline = [...replication.matchAll(/^slave\d+:.*state=([a-z_]+)/gm)].every((m) => m[1] === 'online');
          const linkUp = !/role:slave/.test(replication) || /master_link_status:up/.test(replication);
          return { ok: /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && replicasOnline && linkUp, slots };
        }),
      ),
    );
    const masters = (await this.slotMap()).map((s) => s.masterPort);
    const mastersAlive = masters.every((port) => live.some((s) => s.port === port));
    return mastersAlive && views.every((v) => v.ok) && new Set(views.map((v) => v.slots)).size === 1;
  }

  /**
   * Makes every master that serves slots have a replica. `--cluster create --cluster-replicas 1` can leave the nodes
   * meant as replicas masters without slots (seen every time with a cluster-node-timeout of 15 s): each such node is
   * made the replica of a master that has none (CLUSTER REPLICATE), retried until every node lists them so.
   */
  async attachReplicas(): Promise<void> {
    const until = Date.now() + SETTLE_DEADLINE_MS;
    for (;;) {
      const views = await Promise.all(
        this.servers
          .filter((s) => s.pid !== null)
          .map(async (s) => ({ server: s, lines: parseClusterNodes(String(await withClient(s, (c) => c.call('CLUSTER', 'NODES')))) })),
      );
      // Each node as it sees itself: another node's view of a fresh cluster may lag by a few gossip rounds.
      const nodes = views.map((v) => ({ server: v.server, ...v.lines.find((n) => n.myself)! }));
      const serving = nodes.filter((n) => n.serves);
      const lacking = serving.filter((n) => !nodes.some((r) => r.masterId === n.id));
      // Done once every node also lists a replica under every master (replicasOf asks any one of them).
      if (lacking.length === 0 && views.every((v) => serving.every((m) => v.lines.some((l) => l.masterId === m.id)))) return;
      if (Date.now() > until) throw new RedisTestkitError('REDIS_START_FAILED', `${lacking.length} master(s) of the cluster have no replica`);
      const spare = nodes.filter((n) => n.master && !n.serves);
      for (const [i, master] of lacking.entries()) {
        // A node may not know the master's id yet: the next round tries again.
        if (spare[i]) await withClient(spare[i]!.server, (c) => c.call('CLUSTER', 'REPLICATE', master.id)).catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async slotMap(): Promise<Array<{ from: number; to: number; masterPort: number }>> {
    const live = this.servers.find((s) => s.pid !== null);
    if (!live) return [];
    const reply = (await withClient(live, (c) => c.call('CLUSTER', 'SLOTS'))) as Array<[number, number, [string, number]]>;
    return reply.map(([from, to, master]) => ({ from, to, masterPort: Number(master[1]) }));
  }
}

/** One line of CLUSTER NODES: id, port, whether it is the node asked (myself), a master, whose replica it is, whether it serves slots. */
function parseClusterNodes(text: string): Array<{ id: string; port: number; myself: boolean; master: boolean; masterId: string | null; serves: boolean }> {
  return text
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .map((f) => ({
      id: f[0]!,
      port: Number(f[1]!.split('@')[0]!.split(':').pop()),
      myself: /myself/.test(f[2]!),
      master: /master/.test(f[2]!),
      masterId: f[3] === '-' ? null : f[3]!,
      serves: f.length > 8,
    }));
}

async function withClient<T>(node: { host: string; port: number }, use: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ host: node.host, port: node.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return await use(c);
  } finally {
    c.disconnect();
  }
}
