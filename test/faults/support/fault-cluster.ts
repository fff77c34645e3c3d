import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll } from 'vitest';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { FAULT_HOOK_TIMEOUT_MS, faultRedisEngine, type FaultRedisEngine } from './fault-profile.js';
import type { ResilientGateway } from './resilient-gateway.js';
import {
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  startHaproxy,
  startRedis,
  startRedisCluster,
  uniquePrefix,
  testCorp,
  type ExitInfo,
  type FakeWecomHandle,
  type HaproxyHandle,
  type RedisClusterHandle,
  type RedisHandle,
  type RelayNodeEnv,
  type RelayNodeHandle,
  type RelayPorts,
  type TestCorp,
} from '@wecom-relay/testkit';

/** How a fault cluster is built. */
export interface FaultClusterOptions {
  /** Relay nodes; default 3. */
  nodes?: number;
  /** Extra environment for every node (overrides the fault defaults below). */
  nodeEnv?: RelayNodeEnv;
  /** The scenario kills or restarts Redis: start its own even when REDIS_URL names a shared one. */
  restartsRedis?: boolean;
  /** One Redis or a Redis Cluster (3 masters + 3 replicas, append-only); default FAULT_REDIS. */
  engine?: FaultRedisEngine;
}

/** What one node looked like from outside when asked. */
export interface NodeHealth {
  name: string;
  /** The process (current incarnation) has not exited. */
  running: boolean;
  /** HTTP status of GET /healthz, or null when nothing answered. */
  healthz: number | null;
  readyz: number | null;
}

/**
 * A deployment as the issue describes it: relay nodes as real processes on one Redis with append-only
 * persistence, a fake WeCom that calls the balancer, and haproxy in front of gateways and WeCom alike.
 */
export interface FaultCluster {
  corp: TestCorp;
  /** What the nodes run on. */
  readonly engine: FaultRedisEngine;
  /** The one Redis (engine `single`; reading it on a Redis Cluster throws). */
  readonly redis: RedisHandle;
  /** The Redis Cluster (engine `cluster`), else null. */
  readonly redisCluster: RedisClusterHandle | null;
  /** The key prefix of every node (REDIS_KEY_PREFIX). */
  readonly keyPrefix: string;
  fake: FakeWecomHandle;
  lb: HaproxyHandle;
  /** The current incarnation of each node (replaced when a node is started again). */
  readonly nodes: readonly RelayNodeHandle[];
  /** Every incarnation ever started, oldest first, for reading the logs of killed ones. */
  readonly incarnations: readonly RelayNodeHandle[];
  /** WeCom's single callback URL: /webhook through the balancer. */
  readonly lbWebhookUrl: string;
  /** Each node's own /webhook (for callbacks posted to every node at once). */
  readonly nodeWebhookUrls: readonly string[];
  /** The auth_token a gateway id presents. */
  tokenFor(gatewayId: string): string;
  /** Signals node i (SIGKILL = crash, SIGTERM = drain) and resolves once it has exited. */
  stopNode(i: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<ExitInfo>;
  /** Starts node i again on its ports; resolves once its /readyz is 200. */
  startNode(i: number): Promise<RelayNodeHandle>;
  /** Asks every node for /healthz and /readyz once. */
  health(): Promise<NodeHealth[]>;
  /** Polls health() until every node is running, live and ready, or the time is up; resolves with the last answer. */
  waitHealthy(timeoutMs: number): Promise<NodeHealth[]>;
  /** Log lines of every incarnation at pino level error or above (50+), prefixed with the node name. */
  errorLines(): string[];
  /** Writes each incarnation's output to `<dir>/<label>-<n>-<node>.log` (for investigating a failed run). */
  dumpLogs(dir: string, label: string): void;
  stop(): Promise<void>;
}

/** Node settings the fault suite runs with: a fast periodic pull so callbacks lost with a dead node are caught up. */
const FAULT_NODE_ENV: RelayNodeEnv = {
  SYNC_POLL_INTERVAL_MS: '2000',
  DRAIN_SPREAD_MS: '2000',
  LOG_LEVEL: 'info',
};

async function statusOf(url: string): Promise<number | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return null;
  }
}

/** True when every node is running and answers 200 on both probes. */
export function allHealthy(health: readonly NodeHealth[]): boolean {
  return health.every((h) => h.running && h.healthz === 200 && h.readyz === 200);
}

/** One short phrase for a scenario line: "nodes healthy" or what is wrong with which node. */
export function describeHealth(health: readonly NodeHealth[]): string {
  if (allHealthy(health)) return 'nodes healthy';
  const bad = health
    .filter((h) => !(h.running && h.healthz === 200 && h.readyz === 200))
    .map((h) => `${h.name}${h.running ? '' : ' exited'} healthz ${h.healthz ?? '-'} readyz ${h.readyz ?? '-'}`);
  return `nodes UNHEALTHY (${bad.join(', ')})`;
}

/**
 * Boots Redis (AOF) or a Redis Cluster (AOF, a replica per master), the fake WeCom, the nodes NODE_ID fault-0.. and
 * haproxy; tears down what started if any part fails.
 */
export async function startFaultCluster(options: FaultClusterOptions = {}): Promise<FaultCluster> {
  const count = options.nodes ?? 3;
  const corp = testCorp();
  const engine = options.engine ?? faultRedisEngine();
  const single = engine === 'single' ? await startRedis({ appendOnly: true, restartable: options.restartsRedis ?? false }) : null;
  // fsync per write as the single Redis has it: a node restarted after SIGTERM or SIGKILL keeps what it acknowledged.
  const redisCluster = engine === 'cluster' ? await startRedisCluster({ serverArgs: ['--appendonly', 'yes'] }) : null;
  const redisEnv: RelayNodeEnv = single ? { REDIS_URL: single.url } : { REDIS_CLUSTER_NODES: redisCluster!.seeds.join(',') };
  const keyPrefix = uniquePrefix('fault');
  const cleanups: (() => Promise<unknown>)[] = [() => (single ?? redisCluster)!.stop()];
  const undo = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const ports: RelayPorts[] = [];
    for (let i = 0; i < count; i++) ports.push(await reserveRelayPorts());
    const fake = await spawnFakeWecom({ corp, callbackUrls: ports.map((p) => p.webhookUrl) });
    cleanups.push(() => fake.stop());
    const envFor = (i: number): RelayNodeEnv =>
      relayEnvFor(corp, fake.url, {
        ...redisEnv,
        // Unique per cluster, so scenarios can share one Redis (REDIS_URL) without meeting each other's keys.
        REDIS_KEY_PREFIX: keyPrefix,
        NODE_ID: `fault-${i}`,
        PORT: String(ports[i]!.port),
        WS_PORT: String(ports[i]!.wsPort),
        ...FAULT_NODE_ENV,
        ...options.nodeEnv,
      });
    const nodes: RelayNodeHandle[] = [];
    const incarnations: RelayNodeHandle[] = [];
    const spawn = async (i: number): Promise<RelayNodeHandle> => {
      const node = await spawnRelayNode(envFor(i), { name: `fault-${i}`, readyTimeoutMs: 60_000 });
      nodes[i] = node;
      incarnations.push(node);
      return node;
    };
    cleanups.push(() => Promise.allSettled(incarnations.map((n) => n.stop())));
    // One at a time: three tsx compiles at once on a shared two-core machine only make each slower.
    for (let i = 0; i < count; i++) await spawn(i);
    const lb = await startHaproxy(ports.map((p, i) => ({ name: `fault-${i}`, httpPort: p.port, wsPort: p.wsPort })));
    cleanups.push(() => lb.stop());
    const lbWebhookUrl = `${lb.httpUrl}/webhook`;
    // WeCom has one callback URL per app: the balancer's.
    await fake.control.setCallbackUrls([lbWebhookUrl]);

    const health = async (): Promise<NodeHealth[]> =>
      Promise.all(
        nodes.map(async (node, i) => ({
          name: `fault-${i}`,
          running: !node.process.exited,
          healthz: await statusOf(`${node.httpUrl}/healthz`),
          readyz: await statusOf(`${node.httpUrl}/readyz`),
        })),
      );

    return {
      corp,
      engine,
      get redis(): RedisHandle {
        if (!single) throw new Error('this fault cluster runs on a Redis Cluster (FAULT_REDIS=cluster): use redisCluster');
        return single;
      },
      redisCluster,
      keyPrefix,
      fake,
      lb,
      nodes,
      incarnations,
      lbWebhookUrl,
      nodeWebhookUrls: ports.map((p) => p.webhookUrl),
      tokenFor: (gatewayId) => gatewayAuthToken(corp.relaySecret, gatewayId),
      async stopNode(i, signal) {
        const node = nodes[i];
        if (!node) throw new RangeError(`no node ${i}`);
        node.kill(signal);
        const info = await node.waitExit();
        // stop() on an exited node only removes its temporary data directory.
        await node.stop();
        return info;
      },
      startNode: spawn,
      health,
      async waitHealthy(timeoutMs) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const answer = await health();
          if (allHealthy(answer) || Date.now() >= deadline) return answer;
          await sleep(250);
        }
      },
      errorLines() {
        const out: string[] = [];
        for (const node of incarnations) {
          for (const line of node.logs) {
            const level = /"level":(\d+)/.exec(line)?.[1];
            if (level !== undefined && Number(level) >= 50) out.push(`${node.process.name}: ${line}`);
          }
        }
        return out;
      },
      dumpLogs(dir, label) {
        mkdirSync(dir, { recursive: true });
        incarnations.forEach((node, n) => {
          writeFileSync(join(dir, `${label}-${n}-${node.process.name}.log`), `${node.logs.join('\n')}\n`);
        });
      },
      stop: undo,
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

/** One file's fault cluster and the gateways its tests open, started before all tests and stopped after. */
export interface FaultClusterStack {
  readonly cluster: FaultCluster;
  /** Gateways registered here are stopped before the cluster. */
  readonly gateways: ResilientGateway[];
  /** Runs before the gateways and cluster stop (e.g. to drop extra sockets). */
  onStop(hook: () => void | Promise<void>): void;
}

/** Vitest wiring for {@link startFaultCluster}: one cluster per file. */
export function useFaultCluster(options: FaultClusterOptions = {}): FaultClusterStack {
  let cluster: FaultCluster | undefined;
  const gateways: ResilientGateway[] = [];
  const hooks: Array<() => void | Promise<void>> = [];
  beforeAll(async () => {
    cluster = await startFaultCluster(options);
  }, FAULT_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    for (const hook of hooks) await hook();
    await Promise.allSettled(gateways.map((g) => g.stop()));
    await cluster?.stop();
  }, FAULT_HOOK_TIMEOUT_MS);
  return {
    get cluster() {
      if (!cluster) throw new Error('the fault cluster is not running (did beforeAll fail?)');
      return cluster;
    },
    gateways,
    onStop: (hook) => hooks.push(hook),
  };
}

