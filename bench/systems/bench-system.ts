/**
 * A system under test: the relay (compiled nodes) or the Socket.IO peer, each with its own fake WeCom and gateway
 * drivers, on the run's Redis. Both are driven through the same surface so every scenario measures them alike.
 */
import { Cluster } from 'ioredis';
import { RedisBindingStore, RedisShardedBindingStore, type BindingStore } from '@wecom-relay/relay-node';
import {
  ManagedProcess,
  childEnv,
  relayEnvFor,
  reserveRelayPorts,
  spawnRelayNode,
  testCorp,
  type RelayNodeHandle,
} from '@wecom-relay/testkit';
import { FakeHost } from '../fake/fake-host-client.js';
import { DriverPool, GATEWAYS_PER_DRIVER } from '../drivers/driver-pool.js';
import type { Delivery, GatewaySpec } from '../drivers/driver-protocol.js';
import type { ChildScripts } from '../lib/build-children.js';
import { gatewayName, userName } from '../lib/naming.js';
import type { Measured } from './measured.js';
import type { RedisBackend } from './redis-backend.js';

/** Which system. */
export type SystemKind = 'relay' | 'peer';

/** A running system. */
export interface BenchSystem {
  readonly kind: SystemKind;
  readonly fake: FakeHost;
  readonly drivers: DriverPool;
  readonly wsUrls: string[];
  /** Every process whose CPU/RSS the figures use. */
  readonly targets: Measured[];
  /** Opens gateways `indices`, gateway i on node i mod nodes (its home), and waits until all are authenticated. */
  connect(indices: number[], timeoutMs?: number): Promise<void>;
  /** Binds user i to gateway i (the relay stores it in Redis; the peer derives it from the name). */
  bind(indices: number[]): Promise<void>;
  /** SIGKILLs one node. */
  kill(node: number): void;
  stop(): Promise<void>;
}

/** How to start a system. */
export interface SystemOptions {
  nodes: number;
  /** Gateways the run will hold at most (sizes the driver pool). */
  maxGateways: number;
  backend: RedisBackend;
  scripts: ChildScripts;
  /** How the relay's gateways take delivery (the peer's never acknowledge). */
  delivery: Delivery;
}

const NODE_READY_MS = 60_000;

async function runConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** Starts a system of `nodes` servers, its fake WeCom (callbacks to every node) and its drivers. */
export async function startSystem(kind: SystemKind, opts: SystemOptions): Promise<BenchSystem> {
  const corp = testCorp();
  const ports = await Promise.all(Array.from({ length: opts.nodes }, () => reserveRelayPorts()));
  const fake = await FakeHost.start(opts.scripts.fakeHost, corp, ports.map((p) => p.webhookUrl));
  const stoppers: Array<() => Promise<unknown>> = [() => fake.stop()];
  // Two drivers from a few hundred gateways on, so the quick run goes through the same split as the full one.
  const driverCount = Math.max(Math.ceil(opts.maxGateways / GATEWAYS_PER_DRIVER), opts.maxGateways >= 500 ? 2 : 1);
  const drivers = DriverPool.start(opts.scripts.driver, kind === 'relay' && opts.delivery === 'legacy' ? 'relay-legacy' : kind, driverCount);
  stoppers.unshift(() => drivers.stop());
  const stopAll = async (): Promise<void> => {
    for (const s of stoppers) await s().catch(() => undefined);
  };
  try {
    const servers: Array<{ pid: number; kill: () => void }> = [];
    if (kind === 'relay') {
      const nodes: RelayNodeHandle[] = await Promise.all(
        ports.map((p, i) =>
          spawnRelayNode(
            relayEnvFor(corp, fake.url, {
              ...opts.backend.env,
              NODE_ID: `bench-${i}`,
              PORT: String(p.port),
              WS_PORT: String(p.wsPort),
              LOG_LEVEL: 'warn',
              // Pulls come from callbacks only, as in the peer.
              SYNC_POLL_INTERVAL_MS: '600000',
              // Every benchmark gateway connects from this one host.
              MAX_PENDING_SOCKETS_PER_ADDRESS: '100000',
              MAX_PENDING_SOCKETS: '100000',
              MAX_PENDING_BYTES: String(256 * 1024 * 1024),
            }),
            // The production build, as deployed (`pnpm bench` builds it first).
            { name: `relay-${i}`, compiled: true, readyTimeoutMs: NODE_READY_MS },
          ),
        ),
      );
      for (const n of nodes) {
        servers.push({ pid: n.pid, kill: () => n.kill('SIGKILL') });
        stoppers.push(() => n.stop());
      }
    } else {
      const peers = await Promise.all(
        ports.map(async (p, i) => {
          const child = new ManagedProcess({
            name: `peer-${i}`,
            script: opts.scripts.peerServer,
            env: childEnv({
              ...opts.backend.env,
              PORT: String(p.port),
              WS_PORT: String(p.wsPort),
              PEER_PULL: i === 0 ? '1' : '0',
              WECOM_API_BASE: fake.url,
              WECOM_CORPID: corp.corpId,
              WECOM_APP_SECRET: corp.secret,
              WECOM_OPEN_KFID: corp.openKfid,
              RELAY_AUTH_SECRET: corp.relaySecret,
            }),
          });
          stoppers.push(() => child.stop());
          await child.waitForLine((l) => l.includes('"listening"'), NODE_READY_MS);
          return child;
        }),
      );
      for (const c of peers) servers.push({ pid: c.pid, kill: () => c.kill('SIGKILL') });
    }
    const wsUrls = ports.map((p) => `ws://127.0.0.1:${p.wsPort}`);
    const targets: Measured[] = [
      ...servers.map((s, i): Measured => ({ name: `${kind}-${i}`, role: 'node', selector: { pgid: s.pid } })),
      ...opts.backend.processes,
      { name: 'fake-wecom', role: 'fake-wecom', selector: { pid: fake.pid } },
      ...drivers.pids.map((pid, i): Measured => ({ name: `driver-${i}`, role: 'driver', selector: { pid } })),
      { name: 'bench', role: 'bench', selector: { pid: process.pid } },
    ];
    const client = opts.backend.client;
    const bindings: BindingStore | null =
      kind === 'relay'
        ? client instanceof Cluster
          ? new RedisShardedBindingStore({ redis: client, prefix: 'wr:' })
          : new RedisBindingStore({ redis: client, prefix: 'wr:' })
        : null;
    return {
      kind,
      fake,
      drivers,
      wsUrls,
      targets,
      connect: (indices, timeoutMs) =>
        drivers.connect(
          wsUrls,
          indices.map((index): GatewaySpec => ({ index, home: index % opts.nodes })),
          corp.relaySecret,
          timeoutMs,
        ),
      bind: async (indices) => {
        if (!bindings) return;
        await runConcurrently(indices, 64, (i) => bindings.bind(userName(i), gatewayName(i)));
      },
      kill: (node) => servers[node]!.kill(),
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
