/**
 * What routing a pulled page costs the pulling node, alone: the page router, route script and batch enqueuer of a
 * relay node on one Redis server, built in this process on a real Redis (stores, presence and bus as in production),
 * routing pages of kf/sync_msg messages to gateways owned by two other live nodes. No sockets, no HTTP: CPU µs per
 * message of this process and Redis µs per message.
 *
 *   pnpm tsx bench/route-profile.ts [--users 1000] [--pages 30] [--page 1000]
 *   node --cpu-prof --import tsx bench/route-profile.ts ...      # a CPU profile of the routing alone
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { KfMessage } from '@wecom-relay/shared';
import { startRedis } from '@wecom-relay/testkit';
import { serverCpuSeconds } from './lib/redis-stats.js';
import { BatchEnqueuer } from '../packages/relay-node/src/delivery/enqueue-batch.js';
import { PageRouter } from '../packages/relay-node/src/inbound/page-router.js';
import { createMetrics } from '../packages/relay-node/src/observability/metrics.js';
import {
  RedisBindingStore,
  RedisDedupStore,
  RedisDeliveryQueue,
  RedisNodeBus,
  RedisOutboundLedger,
  RedisPresenceMap,
  RedisRouteAppender,
} from '../packages/relay-node/src/state/redis/index.js';

const { values: flags } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { users: { type: 'string', default: '1000' }, pages: { type: 'string', default: '30' }, page: { type: 'string', default: '1000' } },
});
const USERS = Number(flags.users);
const PAGES = Number(flags.pages);
const PAGE = Number(flags.page);

const server = process.env.REDIS_URL ? null : await startRedis();
const url = process.env.REDIS_URL ?? server!.url;
const redis = new Redis(url, { enableAutoPipelining: true });
const prefix = 'rp:';
const metrics = createMetrics('node-a');
const quiet = (): void => undefined;
// A silent logger without pino (not a dependency of the bench package).
const logger = { info: quiet, warn: quiet, error: quiet, debug: quiet, trace: quiet, fatal: quiet, child: () => logger } as unknown as ConstructorParameters<typeof PageRouter>[0]['logger'];
const queue = new RedisDeliveryQueue({ redis, prefix });
const bindings = new RedisBindingStore({ redis, prefix });
const presence = new RedisPresenceMap({ redis, prefix });
const bus = new RedisNodeBus({ redis, prefix, logger });
const dedup = new RedisDedupStore({ redis, prefix });
const ledger = new RedisOutboundLedger({ redis, prefix });
const router = new PageRouter({
  dispatcher: { dispatch: async (m) => void logger.warn({ msgid: m.msgid }, 'not plain') },
  bindings,
  ledger,
  dedup,
  // As a relay node on one Redis server routes: decisions, appends and owner reads in one script call per page.
  appender: new RedisRouteAppender({ redis, dedup, queue, presence, ledger, bindings }),
  enqueuer: new BatchEnqueuer({ nodeId: 'node-a', queue, presence, bus, delivery: { noteAppended: () => undefined, wakeLocal: () => undefined }, metrics }),
  logger,
  metrics,
  firstPullMaxAgeMs: 10 * 60_000,
});

// Both owners alive, so each page wakes them as in production.
for (const node of ['node-b', 'node-c']) await presence.heartbeat(node, 10 * 60_000);
for (let u = 0; u < USERS; u++) {
  await bindings.bind(`wm-${u}`, `gw-${u}`);
  await presence.claim(`gw-${u}`, u % 2 === 0 ? 'node-b' : 'node-c');
}
// From the start of this minute: a run stays within one minute's decision trees however the clock falls (at 2,000
// messages a second of send_time, up to 120,000 messages), so two runs do the same work (bench/route-instructions.ts).
const t0 = Math.floor(Date.now() / 60_000) * 60;
let seq = 0;
function page(): KfMessage[] {
  return Array.from({ length: PAGE }, () => {
    const n = seq++;
    return { msgid: `m-${n}`, external_userid: `wm-${n % USERS}`, open_kfid: 'wk-1', send_time: t0 + Math.floor(n / 2000), origin: 3, msgtype: 'text', text: { content: `hello ${n}` } };
  });
}
await router.route(page(), { firstPull: false, openKfid: 'wk-1' }); // warm-up
await redis.config('RESETSTAT');
const redisCpu0 = await redisCpuSeconds();
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
for (let p = 0; p < PAGES; p++) await router.route(page(), { firstPull: false, openKfid: 'wk-1' });
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - wall0;
const messages = PAGES * PAGE;
const redisCpu = (await redisCpuSeconds()) - redisCpu0;
const info = await redis.info('commandstats');
let calls = 0;
let usec = 0;
const rows: string[] = [];
for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
  if (m[1] === 'info' || m[1] === 'config|resetstat') continue;
  calls += Number(m[2]);
  usec += Number(m[3]);
  rows.push(`  ${m[1]!.padEnd(18)} ${(Number(m[2]) / messages).toFixed(2)}/msg ${(Number(m[3]) / messages).toFixed(1)} µs`);
}
console.log(`${messages} messages, ${PAGES} pages of ${PAGE}, ${USERS} users`);
console.log(`router CPU ${((cpu.user + cpu.system) / messages).toFixed(1)} µs/msg, wall ${((wall * 1000) / messages).toFixed(1)} µs/msg, ${(wall / PAGES).toFixed(1)} ms/page`);
console.log(`Redis CPU ${((redisCpu * 1e6) / messages).toFixed(1)} µs/msg (INFO cpu: the server's user + system time)`);
console.log(`Redis commands ${(calls / messages).toFixed(2)}/msg (nested included), ${(usec / messages).toFixed(1)} µs/msg by commandstats`);
console.log(rows.join('\n'));
redis.disconnect();
await server?.stop();

/** The server process's CPU time so far, in seconds. */
async function redisCpuSeconds(): Promise<number> {
  return serverCpuSeconds(await redis.info('cpu'));
}
