import { GatewayClient, baseType, resolvedUser, type GatewayClientOptions } from '@wecom-relay/gateway-client';
import { gatewayAuthToken } from '@wecom-relay/shared';
import {
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  startHaproxy,
  startRedis,
  startRedisCluster,
  testCorp,
  uniquePrefix,
  type FakeWecomHandle,
  type HaproxyHandle,
  type RedisClusterHandle,
  type RedisHandle,
  type RelayNodeHandle,
  type RelayPorts,
  type TestCorp,
} from '@wecom-relay/testkit';

/** Three (or n) relay nodes as real processes on one real Redis, a fake WeCom calling all of them, and haproxy in front. */
export interface ClusterStack {
  corp: TestCorp;
  /** The Redis; on a Redis Cluster, a view of its first seed (kill and restart nodes through `redisCluster`). */
  redis: RedisHandle;
  /** Set when the nodes run on a Redis Cluster (`redisCluster: true`). */
  redisCluster: RedisClusterHandle | null;
  /** Every key the nodes write starts with this. */
  keyPrefix: string;
  fake: FakeWecomHandle;
  nodes: RelayNodeHandle[];
  lb: HaproxyHandle;
  /** A connected gateway on the given WebSocket URL (a node's, or the balancer's); closed by stop(). */
  gateway(url: string, gatewayId: string, options?: Partial<GatewayClientOptions>): Promise<GatewayClient>;
  /** Binds a WeCom user to a gateway by scan, with the scan's callback sent to one node only. */
  bind(gateway: GatewayClient, user: string, callbackNode?: RelayNodeHandle): Promise<void>;
  /** Starts node i again (after it was killed) on the same ports. */
  restartNode(i: number): Promise<RelayNodeHandle>;
  stop(): Promise<void>;
}

/** How to boot a cluster. */
export interface ClusterOptions {
  nodes?: number;
  redisAppendOnly?: boolean;
  /** Run the nodes on a Redis Cluster of 3 masters + 3 replicas (REDIS_CLUSTER_NODES) instead of one Redis. */
  redisCluster?: boolean;
  /** Credentials shared by the fake and the nodes; fresh ones by default. */
  corp?: TestCorp;
  /** Extra environment for every node. */
  env?: Record<string, string>;
  /** kf accounts served besides the corp's own: the fake serves them and every node lists them in WECOM_OPEN_KFID. */
  moreOpenKfids?: string[];
  /** Runs once Redis and the fake WeCom are up and before any node starts (e.g. to migrate state into Redis). */
  beforeNodes?: (ctx: { corp: TestCorp; redis: RedisHandle; keyPrefix: string; fake: FakeWecomHandle }) => Promise<void>;
}

/** Boots the cluster. Nodes get NODE_ID node-0, node-1, ... */
export async function startCluster(options: ClusterOptions = {}): Promise<ClusterStack> {
  const count = options.nodes ?? 3;
  const corp = options.corp ?? testCorp();
  // The suite restarts Redis, so it needs its own even when REDIS_URL names a shared one.
  const redisCluster = options.redisCluster ? await startRedisCluster() : null;
  const redis = redisCluster
    ? seedView(redisCluster)
    : await startRedis({ appendOnly: options.redisAppendOnly ?? false, restartable: true });
  const keyPrefix = uniquePrefix('cluster');
  const ports: RelayPorts[] = [];
  for (let i = 0; i < count; i++) ports.push(await reserveRelayPorts());
  const kfids = [corp.openKfid, ...(options.moreOpenKfids ?? [])].join(',');
  const fake = await spawnFakeWecom({ corp, callbackUrls: ports.map((p) => p.webhookUrl), env: { FAKE_WECOM_OPEN_KFID: kfids } });
  const envFor = (i: number) =>
    relayEnvFor(corp, fake.url, {
      WECOM_OPEN_KFID: kfids,
      ...(redisCluster ? { REDIS_CLUSTER_NODES: redisCluster.seeds.join(',') } : { REDIS_URL: redis.url }),
      REDIS_KEY_PREFIX: keyPrefix,
      NODE_ID: `node-${i}`,
      PORT: String(ports[i]!.port),
      WS_PORT: String(ports[i]!.wsPort),
      SYNC_POLL_INTERVAL_MS: '60000',
      DRAIN_SPREAD_MS: '500',
      TRUSTED_PROXIES: '127.0.0.1',
      // These tests place gateways on chosen nodes; rebalancing would move them (test/ops/rebalancing.test.ts covers it).
      REBALANCE_MAX_PER_INTERVAL: '0',
      ...options.env,
    });
  try {
    await options.beforeNodes?.({ corp, redis, keyPrefix, fake });
  } catch (err) {
    await fake.stop();
    await redis.stop();
    throw err;
  }
  const started = await Promise.allSettled(ports.map((_, i) => spawnRelayNode(envFor(i), { name: `node-${i}` })));
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  let lb: HaproxyHandle;
  try {
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    lb = await startHaproxy(ports.map((p, i) => ({ name: `node-${i}`, httpPort: p.port, wsPort: p.wsPort })));
  } catch (err) {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await fake.stop();
    await redis.stop();
    throw err;
  }
  const clients: GatewayClient[] = [];
  const stack: ClusterStack = {
    corp,
    redis,
    redisCluster,
    keyPrefix,
    fake,
    nodes,
    lb,
    async gateway(url, gatewayId, extra = {}) {
      const client = new GatewayClient({
        url,
        gatewayId,
        authToken: gatewayAuthToken(corp.relaySecret, gatewayId),
        dialect: 'plain',
        ...extra,
      });
      clients.push(client);
      await client.connect();
      return client;
    },
    async bind(gateway, user, callbackNode) {
      const offer = await gateway.createBinding();
      await fake.control.scan({
        external_userid: user,
        url: offer.customerServiceUrl,
        ...(callbackNode ? { deliver: false } : {}),
      });
      if (callbackNode) await fake.control.callback({ urls: [callbackNode.webhookUrl] });
      await gateway.waitFor((f) => baseType(f.type) === 'binding_resolved' && resolvedUser(f) === user, 15_000);
    },
    async restartNode(i) {
      const node = await spawnRelayNode(envFor(i), { name: `node-${i}` });
      nodes[i] = node;
      return node;
    },
    async stop() {
      await Promise.allSettled(clients.map((c) => c.terminate()));
      await lb.stop();
      await Promise.allSettled(nodes.map((n) => n.stop()));
      await fake.stop();
      await redis.stop();
    },
  };
  return stack;
}

/** A RedisHandle on a Redis Cluster's first seed; stop() stops the whole cluster, kill/restart are refused. */
function seedView(cluster: RedisClusterHandle): RedisHandle {
  const [host, port] = [cluster.seeds[0]!.slice(0, cluster.seeds[0]!.lastIndexOf(':')), Number(cluster.seeds[0]!.split(':').pop())];
  const refuse = () => Promise.reject(new Error('on a Redis Cluster, kill or restart nodes through stack.redisCluster'));
  return { url: `redis://${host}:${port}`, host, port, ownServer: true, stop: () => cluster.stop(), kill: refuse, restart: refuse };
}
