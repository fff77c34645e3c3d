/**
 * What the replica barrier costs a sync page: the time to commit the cursor after a page of appends, with and
 * without the barrier (WAIT 1 on each master that has a replica, which on one Redis the commit script itself asks
 * INFO replication about, and on a Redis Cluster a round trip before the commit), on one Redis without and with a
 * replica and on a Redis Cluster of 3 masters + 3 replicas. For docs/operations.md.
 *   pnpm tsx bench/replica-barrier-bench.ts [--pages 300] [--page-size 20] [--gateways 10]
 */
import { parseArgs } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import type { QueuedEvent } from '@wecom-relay/shared';
import { RedisDeliveryQueue, RedisSyncCoordinator, replicaBarrier } from '@wecom-relay/relay-node';
import { startRedis, startRedisCluster, type SpawnedRedis } from '@wecom-relay/testkit';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { pages: { type: 'string', default: '300' }, 'page-size': { type: 'string', default: '20' }, gateways: { type: 'string', default: '10' } },
});
const pages = Number(values.pages);
const pageSize = Number(values['page-size']);
const gateways = Number(values.gateways);
// The barrier warns once per master without a replica; the bench has nothing to say about that.
const quiet = () => undefined;
const logger = { info: quiet, warn: quiet, error: quiet } as unknown as Parameters<typeof replicaBarrier>[1]['logger'];

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Appends `pages` pages and commits the cursor after each; returns commit and whole-page times in ms. */
async function run(label: string, redis: Redis | Cluster, barrier: boolean): Promise<void> {
  const prefix = `bench-${label.replace(/\W+/g, '-')}:`;
  const queue = new RedisDeliveryQueue({ redis, prefix });
  const sync = new RedisSyncCoordinator({ redis, prefix, ...(barrier ? { barrier: replicaBarrier(redis, { logger }) } : {}) });
  const lease = (await sync.tryAcquire('kf-bench', 600_000))!;
  const commits: number[] = [];
  const whole: number[] = [];
  let n = 0;
  for (let p = 0; p < pages; p++) {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: pageSize }, () => {
        const i = n++;
        const event = { type: 'inbound', id: `msg${i}`, externalUserId: `wm${i % 100}`, msgType: 'text', content: 'x'.repeat(60), timestamp: i, wecomMsgType: 'text' } as QueuedEvent;
        return queue.append(`gw-${i % gateways}`, event, { dedupKey: `msg${i}` });
      }),
    );
    const appended = performance.now();
    if (!(await lease.commitCursor(`cursor-${p}`))) throw new Error('lease lost');
    const done = performance.now();
    commits.push(done - appended);
    whole.push(done - started);
  }
  await lease.release();
  commits.sort((a, b) => a - b);
  whole.sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(2);
  console.log(
    `${label.padEnd(44)} commit p50 ${f(quantile(commits, 0.5))} ms p99 ${f(quantile(commits, 0.99))} ms; ` +
      `page of ${pageSize} (appends + commit) p50 ${f(quantile(whole, 0.5))} ms p99 ${f(quantile(whole, 0.99))} ms`,
  );
}

const master = (await startRedis({ serverArgs: ['--repl-diskless-sync-delay', '0'] })) as SpawnedRedis;
let replica: SpawnedRedis | null = null;
const single = new Redis(master.url);
try {
  console.log(`${pages} pages of ${pageSize} appends over ${gateways} gateways, cursor committed after each page`);
  await run('one Redis, no replica, no barrier', single, false);
  await run('one Redis, no replica, barrier', single, true);
  replica = (await startRedis({ serverArgs: ['--replicaof', master.host, String(master.port)] })) as SpawnedRedis;
  while (!/slave0:.*state=online/.test(String(await single.info('replication')))) await new Promise((r) => setTimeout(r, 50));
  await run('one Redis + replica, no barrier', single, false);
  await run('one Redis + replica, barrier (WAIT 1)', single, true);
} finally {
  single.disconnect();
  await replica?.stop();
  await master.stop();
}

const rc = await startRedisCluster();
// One command per round trip (no auto-pipelining), as when the figures in docs/benchmarks.md were taken.
const cluster = new Cluster(rc.seeds.map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) })));
try {
  await run('Redis Cluster 3+3, no barrier', cluster, false);
  await run('Redis Cluster 3+3, barrier (WAIT 1 per master)', cluster, true);
} finally {
  cluster.disconnect();
  await rc.stop();
}
