/**
 * `pnpm bench`: three relay nodes (real processes) on one real Redis, a fake WeCom, and many real gateway sockets on
 * this machine. Prints idle memory per connected gateway, and routed messages per second with p50/p99 latency from the
 * fake WeCom's sync answer to the gateway's inbound frame. Numbers, not assertions: run it, read it.
 *
 *   pnpm bench                     # 3 nodes, 3000 gateways, 6000 messages from 600 users
 *   pnpm bench --single --gateways 1000   # one node alone on SQLite (no Redis)
 *   pnpm bench --gateways 9000 --messages 20000 --users 2000 --nodes 3
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { MemoryDeliveryStore, RelayGateway } from '@wecom-relay/gateway';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { openSqliteDatabase, RedisBindingStore, SqliteBindingStore, type BindingStore } from '@wecom-relay/relay-node';
import {
  relayEnvFor,
  reserveRelayPorts,
  spawnFakeWecom,
  spawnRelayNode,
  startRedis,
  testCorp,
  type RelayNodeHandle,
} from '@wecom-relay/testkit';

const { values: flags } = parseArgs({
  // `pnpm bench -- --x` passes the separator through.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    nodes: { type: 'string', default: '3' },
    gateways: { type: 'string', default: '3000' },
    users: { type: 'string', default: '600' },
    messages: { type: 'string', default: '6000' },
    single: { type: 'boolean', default: false },
  },
});
const SINGLE = flags.single;
const NODES = SINGLE ? 1 : Number(flags.nodes);
const GATEWAYS = Number(flags.gateways);
const USERS = Math.min(Number(flags.users), GATEWAYS);
const MESSAGES = Number(flags.messages);

async function metric(node: RelayNodeHandle, name: string): Promise<number> {
  const text = await (await fetch(node.metricsUrl)).text();
  // `name` may carry the first labels, e.g. relay_bus_messages_total{direction="received"
  const line = text.split('\n').find((l) => l.startsWith(name.includes('{') ? name : `${name}{`) || l.startsWith(`${name} `));
  return line ? Number(line.split(' ').pop()) : Number.NaN;
}

async function memory(nodes: RelayNodeHandle[]): Promise<{ rss: number; heap: number }[]> {
  return Promise.all(
    nodes.map(async (n) => ({
      rss: await metric(n, 'process_resident_memory_bytes'),
      heap: await metric(n, 'nodejs_heap_size_used_bytes'),
    })),
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const mib = (b: number) => (b / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  const corp = testCorp();
  const redis = SINGLE ? null : await startRedis();
  const ports = [];
  for (let i = 0; i < NODES; i++) ports.push(await reserveRelayPorts());
  const fake = await spawnFakeWecom({ corp, callbackUrls: ports.map((p) => p.webhookUrl) });
  const nodes = await Promise.all(
    ports.map((p, i) =>
      spawnRelayNode(
        relayEnvFor(corp, fake.url, {
          ...(redis ? { REDIS_URL: redis.url } : {}),
          NODE_ID: `bench-${i}`,
          PORT: String(p.port),
          WS_PORT: String(p.wsPort),
          LOG_LEVEL: 'warn',
          SYNC_POLL_INTERVAL_MS: '600000',
          // Every benchmark gateway connects from this one host.
          MAX_PENDING_SOCKETS_PER_ADDRESS: '100000',
          MAX_PENDING_SOCKETS: '100000',
        }),
        // The production build, as deployed (`pnpm bench` builds it first).
        { name: `bench-${i}`, compiled: true },
      ),
    ),
  );
  const gateways: RelayGateway[] = [];
  const received = new Map<string, number>();
  // The gateways are apps on the SDK, as deployed ones are: acknowledged delivery, so each message costs the node
  // a delivery_ack too. One store serves them all (it keeps each gateway apart), so an idle gateway holds no map.
  const store = new MemoryDeliveryStore();
  const onInbound = (message: { id: string }) => {
    received.set(message.id, Date.now());
  };
  try {
    console.log(
      `${NODES} node(s), ${GATEWAYS} gateways, ${MESSAGES} messages from ${USERS} users (${redis ? `Redis ${redis.url}` : 'single node on SQLite'})`,
    );
    await sleep(2_000);
    const before = await memory(nodes);

    // Connect gateways round-robin over the nodes, a few hundred at a time.
    for (let i = 0; i < GATEWAYS; i += 200) {
      const batch = [];
      for (let j = i; j < Math.min(GATEWAYS, i + 200); j++) {
        const gatewayId = `bench-gw-${j}`;
        const client = new RelayGateway({
          url: nodes[j % NODES]!.wsUrl,
          gatewayId,
          authToken: gatewayAuthToken(corp.relaySecret, gatewayId),
          dialect: 'plain',
          WebSocket,
          store,
          helloTimeoutMs: 30_000,
        });
        client.on('inbound', onInbound);
        gateways.push(client);
        batch.push(client.start());
      }
      await Promise.all(batch);
    }
    await sleep(5_000);
    const after = await memory(nodes);
    const perNode = GATEWAYS / NODES;
    console.log(`\nidle memory per connected gateway (about ${Math.round(perNode)} gateways on each node):`);
    after.forEach((m, i) => {
      const b = before[i]!;
      console.log(
        `  node ${i}: rss ${mib(b.rss)} → ${mib(m.rss)} MiB (${((m.rss - b.rss) / perNode / 1024).toFixed(1)} KiB/gateway), ` +
          `heap ${mib(b.heap)} → ${mib(m.heap)} MiB (${((m.heap - b.heap) / perNode / 1024).toFixed(1)} KiB/gateway)`,
      );
    });

    // Bind users directly in the shared store (the binding flow itself is measured by the tests, not here).
    const seed = redis ? new Redis(redis.url) : null;
    const sqlite = seed ? null : openSqliteDatabase(nodes[0]!.env.DATABASE_PATH!);
    const bindings: BindingStore = seed ? new RedisBindingStore({ redis: seed }) : new SqliteBindingStore(sqlite!);
    for (let u = 0; u < USERS; u++) await bindings.bind(`bench-user-${u}`, `bench-gw-${u}`);
    await seed?.quit();
    sqlite?.close();


    for (let m = 0; m < MESSAGES; m++) {
      await fake.control.customerMessage({ external_userid: `bench-user-${m % USERS}`, msgtype: 'text', content: `bench ${m}`, deliver: false });
    }
    const started = Date.now();
    await fake.control.callback({ concurrent: true });
    const deadline = Date.now() + 120_000;
    while (received.size < MESSAGES && Date.now() < deadline) await sleep(50);
    const served = await fake.control.served();
    const latencies = [...received].map(([id, at]) => at - (served[id] ?? Number.NaN)).filter(Number.isFinite).sort((a, b) => a - b);
    const last = Math.max(...received.values());
    const firstServed = Math.min(...Object.values(served));
    const routedRemote = (await Promise.all(nodes.map((n) => metric(n, 'relay_bus_messages_total{direction="received",kind="wake"')))).reduce(
      (a, b) => a + (Number.isFinite(b) ? b : 0),
      0,
    );
    console.log(`\nrouting ${MESSAGES} messages (callbacks to all ${NODES} nodes at once):`);
    console.log(`  delivered ${received.size}/${MESSAGES} in ${last - started} ms after the callback`);
    console.log(`  throughput ${((received.size / Math.max(1, last - firstServed)) * 1000).toFixed(0)} messages/s (first sync answer → last frame)`);
    console.log(
      `  latency sync answer → gateway frame: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms`,
    );
    console.log(`  wake-ups received from other nodes: ${routedRemote}`);
  } finally {
    await Promise.allSettled(gateways.map((g) => g.close()));
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await fake.stop();
    await redis?.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
