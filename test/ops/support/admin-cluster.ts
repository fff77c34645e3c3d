import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { GatewayClient, type GatewayClientOptions } from '@wecom-relay/gateway-client';
import { gatewayAuthToken } from '@wecom-relay/shared';
import {
  REPO_ROOT,
  TSX_BIN,
  freePort,
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  startRedis,
  testCorp,
  uniquePrefix,
  type FakeWecomHandle,
  type RedisHandle,
  type RelayNodeEnv,
  type RelayNodeHandle,
  type RelayPorts,
  type TestCorp,
} from '@wecom-relay/testkit';

const run = promisify(execFile);

/** Relay nodes as real processes on one real Redis, each with its admin API on, and a fake WeCom calling all of them. */
export interface AdminCluster {
  corp: TestCorp;
  redis: RedisHandle;
  fake: FakeWecomHandle;
  nodes: RelayNodeHandle[];
  /** http://127.0.0.1:<ADMIN_PORT> of each node. */
  adminUrls: string[];
  /** Named admin tokens every node accepts. */
  tokens: Record<string, string>;
  /** Ports of node i (reserved for two nodes more than started, for addNode). */
  ports: RelayPorts[];
  gateway(node: number, gatewayId: string, options?: Partial<GatewayClientOptions>): Promise<GatewayClient>;
  /** Starts one more node (NODE_ID node-<index>) with the same settings. */
  addNode(extra?: RelayNodeEnv): Promise<RelayNodeHandle>;
  stop(): Promise<void>;
}

/** Boots `count` nodes node-0, node-1, ... with `extra` settings on each. */
export async function startAdminCluster(count: number, extra: RelayNodeEnv = {}): Promise<AdminCluster> {
  const corp = testCorp();
  const redis = await startRedis();
  const keyPrefix = uniquePrefix('ops');
  const tokens = { alice: `alice-${randomBytes(16).toString('hex')}`, bob: `bob-${randomBytes(16).toString('hex')}` };
  const ports: RelayPorts[] = [];
  for (let i = 0; i < count + 2; i++) ports.push(await reserveRelayPorts());
  // Two spare nodes' webhooks are known to the fake from the start, so nodes added later get callbacks too.
  const fake = await spawnFakeWecom({ corp, callbackUrls: ports.map((p) => p.webhookUrl) });
  const nodes: RelayNodeHandle[] = [];
  const adminUrls: string[] = [];
  const clients: GatewayClient[] = [];
  const addNode = async (more: RelayNodeEnv = {}) => {
    const i = nodes.length;
    const adminPort = await freePort();
    const node = await spawnRelayNode(
      relayEnvFor(corp, fake.url, {
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: keyPrefix,
        NODE_ID: `node-${i}`,
        PORT: String(ports[i]!.port),
        WS_PORT: String(ports[i]!.wsPort),
        SYNC_POLL_INTERVAL_MS: '60000',
        DRAIN_SPREAD_MS: '200',
        ADMIN_PORT: String(adminPort),
        ADMIN_TOKENS: Object.entries(tokens).map(([n, t]) => `${n}:${t}`).join(','),
        ...extra,
        ...more,
      }),
      { name: `node-${i}` },
    );
    nodes.push(node);
    adminUrls.push(`http://127.0.0.1:${adminPort}`);
    return node;
  };
  try {
    for (let i = 0; i < count; i++) await addNode();
  } catch (err) {
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await fake.stop();
    await redis.stop();
    throw err;
  }
  return {
    corp,
    redis,
    fake,
    nodes,
    adminUrls,
    tokens,
    ports,
    addNode,
    async gateway(node, gatewayId, options = {}) {
      const client = new GatewayClient({
        url: nodes[node]!.wsUrl,
        gatewayId,
        authToken: gatewayAuthToken(corp.relaySecret, gatewayId),
        dialect: 'plain',
        ...options,
      });
      clients.push(client);
      await client.connect();
      return client;
    },
    async stop() {
      await Promise.allSettled(clients.map((c) => c.terminate()));
      await Promise.allSettled(nodes.map((n) => n.stop()));
      await fake.stop();
      await redis.stop();
    },
  };
}

/** One admin API call: status and parsed JSON body. */
export async function adminCall(
  url: string,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** Runs `pnpm relay admin ...` as an operator would: exit code and output. */
export async function adminCli(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await run(TSX_BIN, ['packages/relay-node/src/cli/relay-cli.ts', 'admin', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
