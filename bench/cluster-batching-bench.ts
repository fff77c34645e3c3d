/**
 * What batching commands per shard (auto-pipelining) saves a Redis Cluster master: the relay's per-message work
 * (a dedup claim, a binding lookup, a queue append script) issued a page at a time, on one Redis (batched, as the relay
 * runs; without, then with a replica) and on a local 3-master / 3-replica cluster unbatched and batched, alternating.
 * Prints each master's CPU (INFO cpu, user + sys) per message and how many commands it read per socket read, and the
 * commands per message over all masters (the stats INFO calls themselves count a few).
 * For docs/operations.md.
 *   pnpm tsx bench/cluster-batching-bench.ts [--messages 30000] [--page 300] [--rounds 2]
 */
import { parseArgs } from 'node:util';
import { Redis, type Cluster } from 'ioredis';
import type { QueuedEvent } from '@wecom-relay/shared';
import {
  createClusterClient,
  RedisBindingStore,
  RedisDedupStore,
  RedisDeliveryQueue,
  RedisShardedBindingStore,
  type RedisClient,
} from '@wecom-relay/relay-node';
import { startRedis, startRedisCluster, type SpawnedRedis } from '@wecom-relay/testkit';
import { serverCpuSeconds } from './lib/redis-stats.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { messages: { type: 'string', default: '30000' }, page: { type: 'string', default: '300' }, rounds: { type: 'string', default: '2' } },
});
const messages = Number(values.messages);
const page = Number(values.page);
const USERS = 3_000;
const GATEWAYS = 300;
const logger = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined } as never;

interface ServerStats {
  cpuSeconds: number;
  reads: number;
  commands: number;
}

async function statsOf(servers: readonly Redis[]): Promise<ServerStats[]> {
  return Promise.all(
    servers.map(async (s) => {
      const text = `${String(await s.info('cpu'))}\n${String(await s.info('stats'))}`;
      const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? NaN);
      return { cpuSeconds: serverCpuSeconds(text), reads: field('total_reads_processed'), commands: field('total_commands_processed') };
    }),
  );
}

/** Runs `messages` messages a page at a time; returns, per measured server, µs of CPU per message and commands per read. */
async function run(label: string, redis: RedisClient, servers: readonly Redis[], cluster: boolean): Promise<void> {
  const prefix = `bench-${label.replace(/\W+/g, '-')}:`;
  const bindings = cluster ? new RedisShardedBindingStore({ redis, prefix }) : new RedisBindingStore({ redis, prefix });
  const dedup = new RedisDedupStore({ redis, prefix });
  const queue = new RedisDeliveryQueue({ redis, prefix, logger });
  for (let u = 0; u < USERS; u += page) {
    await Promise.all(Array.from({ length: Math.min(page, USERS - u) }, (_, i) => bindings.bind(`wm${u + i}`, `gw-${(u + i) % GATEWAYS}`)));
  }
  const before = await statsOf(servers);
  for (let n = 0; n < messages; ) {
    await Promise.all(
      Array.from({ length: Math.min(page, messages - n) }, async () => {
        const i = n++;
        const user = `wm${i % USERS}`;
        if (!(await dedup.claim(`${label}-msg${i}`, 600_000))) return;
        const gateway = await bindings.gatewayFor(user);
        const event = { type: 'inbound', id: `msg${i}`, externalUserId: user, msgType: 'text', content: 'x'.repeat(60), timestamp: i, wecomMsgType: 'text' } as QueuedEvent;
        await queue.append(gateway!, event, { dedupKey: `msg${i}` });
      }),
    );
  }
  const after = await statsOf(servers);
  const cells = after.map((a, s) => {
    const b = before[s]!;
    return `${(((a.cpuSeconds - b.cpuSeconds) * 1e6) / messages).toFixed(1)} µs/msg, ${((a.commands - b.commands) / Math.max(1, a.reads - b.reads)).toFixed(1)} cmds/read`;
  });
  const commands = after.reduce((sum, a, s) => sum + a.commands - before[s]!.commands, 0);
  console.log(`${label.padEnd(28)} ${cells.join(' | ')}; ${(commands / messages).toFixed(2)} commands/msg in all`);
}

const one = (await startRedis()) as SpawnedRedis;
const rc = await startRedisCluster();
const oneDirect = new Redis(one.url);
const masters = await rc.masters();
const masterDirect = masters.map((m) => new Redis({ host: m.host, port: m.port }));
const target = { kind: 'cluster' as const, nodes: masters.map((m) => ({ host: m.host, port: m.port })), tls: false, password: undefined };
const clients: Array<Redis | Cluster> = [oneDirect];
let replica: SpawnedRedis | null = null;
try {
  console.log(`${messages} messages, ${page} at a time, ${USERS} users on ${GATEWAYS} gateways; one column per Redis master`);
  const single = new Redis(one.url, { enableAutoPipelining: true });
  const unbatched = createClusterClient(target, { enableAutoPipelining: false });
  const batched = createClusterClient(target, { enableAutoPipelining: true });
  clients.push(single, unbatched, batched, ...masterDirect);
  for (let r = 1; r <= Number(values.rounds); r++) {
    await run(`one Redis, batched #${r}`, single, [oneDirect], false);
    if (r === 1) {
      replica = (await startRedis({ serverArgs: ['--replicaof', one.host, String(one.port)] })) as SpawnedRedis;
      while (!/slave0:.*state=online/.test(String(await oneDirect.info('replication')))) await new Promise((ok) => setTimeout(ok, 50));
    }
    await run(`one Redis + replica #${r}`, single, [oneDirect], false);
    await run(`cluster, unbatched #${r}`, unbatched, masterDirect, true);
    await run(`cluster, batched #${r}`, batched, masterDirect, true);
  }
} finally {
  for (const c of clients) c.disconnect();
  await rc.stop();
  await replica?.stop();
  await one.stop();
}
