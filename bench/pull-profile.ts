/**
 * What one routed message costs the node that pulls it: three relay nodes (real processes, the production build) on
 * one real Redis, gateways spread over all of them, and callbacks to node 0 only, so node 0 pulls every page and
 * routes every message. Prints CPU µs per message for every process (from /proc) and Redis calls and µs per message
 * per command (`INFO commandstats`), plus the Redis memory left behind per delivered message.
 *
 *   pnpm build && pnpm tsx bench/pull-profile.ts [--gateways 300] [--users 300] [--messages 3000]
 *   TESTKIT_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' ...   # CPU profiles of every node
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { MemoryDeliveryStore, RelayGateway } from '@wecom-relay/gateway';
import { gatewayAuthToken } from '@wecom-relay/shared';
import { RedisBindingStore } from '@wecom-relay/relay-node';
import { relayEnvFor, reserveRelayPorts, spawnFakeWecom, spawnRelayNode, startRedis, testCorp } from '@wecom-relay/testkit';

const { values: flags } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    nodes: { type: 'string', default: '3' },
    gateways: { type: 'string', default: '300' },
    users: { type: 'string', default: '300' },
    messages: { type: 'string', default: '3000' },
  },
});
const NODES = Number(flags.nodes);
const GATEWAYS = Number(flags.gateways);
const USERS = Math.min(Number(flags.users), GATEWAYS);
const MESSAGES = Number(flags.messages);
const TICK_US = 1_000_000 / 100; // USER_HZ is 100 on Linux.

/** utime + stime of a process, its threads and its live descendants (testkit's guard runs the node as a child), in µs. */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  let total = (Number(fields[11]) + Number(fields[12])) * TICK_US;
  let children: string[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean);
  } catch {
    // Gone already.
  }
  for (const child of children) total += cpuMicros(Number(child));
  return total;
}

/** Per command: calls and µs, from INFO commandstats. */
function commandStats(info: string): Map<string, { calls: number; usec: number }> {
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) stats.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) });
  return stats;
}

async function main(): Promise<void> {
  const corp = testCorp();
  const redis = await startRedis();
  const admin = new Redis(redis.url);
  const ports = [];
  for (let i = 0; i < NODES; i++) ports.push(await reserveRelayPorts());
  // Only node 0 hears callbacks, so it is the one that pulls.
  const fake = await spawnFakeWecom({ corp, callbackUrls: [ports[0]!.webhookUrl] });
  const nodes = await Promise.all(
    ports.map((p, i) =>
      spawnRelayNode(
        relayEnvFor(corp, fake.url, {
          REDIS_URL: redis.url,
          NODE_ID: `prof-${i}`,
          PORT: String(p.port),
          WS_PORT: String(p.wsPort),
          LOG_LEVEL: 'warn',
          SYNC_POLL_INTERVAL_MS: '600000',
          MAX_PENDING_SOCKETS_PER_ADDRESS: '100000',
          MAX_PENDING_SOCKETS: '100000',
        }),
        { name: `prof-${i}`, compiled: true },
      ),
    ),
  );
  const gateways: RelayGateway[] = [];
  const received = new Set<string>();
  const store = new MemoryDeliveryStore();
  try {
    for (let j = 0; j < GATEWAYS; j++) {
      const gatewayId = `prof-gw-${j}`;
      const client = new RelayGateway({
        url: nodes[j % NODES]!.wsUrl,
        gatewayId,
        authToken: gatewayAuthToken(corp.relaySecret, gatewayId),
        dialect: 'plain',
        WebSocket,
        store,
        helloTimeoutMs: 30_000,
      });
      client.on('inbound', (m: { id: string }) => {
        received.add(m.id);
      });
      gateways.push(client);
      await client.start();
    }
    const bindings = new RedisBindingStore({ redis: admin });
    for (let u = 0; u < USERS; u++) await bindings.bind(`prof-user-${u}`, `prof-gw-${u}`);
    for (let m = 0; m < MESSAGES; m++) {
      await fake.control.customerMessage({ external_userid: `prof-user-${m % USERS}`, msgtype: 'text', content: `profile ${m}`, deliver: false });
    }
    await sleep(3_000);
    const redisPid = Number(/process_id:(\d+)/.exec(await admin.info('server'))![1]);
    const pids = [...nodes.map((n, i) => [`node ${i}${i === 0 ? ' (pulls)' : ''}`, n.pid] as const), ['redis-server', redisPid] as const];
    // What each process spends at rest with its gateways connected, so the per-message figures can be read net of it.
    const idleStart = pids.map(([, pid]) => cpuMicros(pid));
    const idleFrom = Date.now();
    await sleep(5_000);
    const idleCpu = pids.map(([, pid], i) => (cpuMicros(pid) - idleStart[i]!) / ((Date.now() - idleFrom) * 1000));
    const memoryBefore = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    await admin.config('RESETSTAT');
    const cpuBefore = pids.map(([, pid]) => cpuMicros(pid));
    const started = Date.now();
    await fake.control.callback({});
    const deadline = Date.now() + 120_000;
    while (received.size < MESSAGES && Date.now() < deadline) await sleep(20);
    const elapsed = Date.now() - started;
    // Let acknowledgements settle before reading the counters.
    await sleep(1_000);
    const cpuAfter = pids.map(([, pid]) => cpuMicros(pid));
    const stats = commandStats(await admin.info('commandstats'));
    const memoryAfter = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    const keys = await admin.dbsize();

    console.log(`${NODES} nodes, ${GATEWAYS} gateways, ${MESSAGES} messages from ${USERS} users; node 0 pulls`);
    console.log(`delivered ${received.size}/${MESSAGES} in ${elapsed} ms`);
    console.log('\nCPU µs per message (utime+stime from /proc, 10 ms ticks):');
    pids.forEach(([name], i) =>
      console.log(`  ${name.padEnd(16)} ${((cpuAfter[i]! - cpuBefore[i]!) / MESSAGES).toFixed(0).padStart(5)}   (at rest before: ${(idleCpu[i]! * 100).toFixed(1)} % of a core)`),
    );
    console.log('\nRedis per message (INFO commandstats):');
    let calls = 0;
    let usec = 0;
    for (const [name, s] of [...stats].sort((a, b) => b[1].usec - a[1].usec)) {
      calls += s.calls;
      usec += s.usec;
      console.log(`  ${name.padEnd(16)} ${(s.calls / MESSAGES).toFixed(2).padStart(6)} calls  ${(s.usec / MESSAGES).toFixed(1).padStart(6)} µs`);
    }
    console.log(`  ${'total'.padEnd(16)} ${(calls / MESSAGES).toFixed(2).padStart(6)} calls  ${(usec / MESSAGES).toFixed(1).padStart(6)} µs`);
    console.log(`\nRedis memory after delivery: ${((memoryAfter - memoryBefore) / MESSAGES).toFixed(0)} bytes per message, ${keys} keys`);
  } finally {
    await Promise.allSettled(gateways.map((g) => g.close()));
    await Promise.allSettled(nodes.map((n) => n.stop()));
    await admin.quit();
    await fake.stop();
    await redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
