/**
 * Redis CPU of the pulling side's per-message scripts, on a fresh redis-server with nothing else running: queue
 * appends and acks (G gateways, acked one at a time per gateway as a gateway socket's frames are, all gateways at once),
 * customerSpoke notes (pages of U users, noted together as the page router does) and the route script (pages of
 * --page messages at --rate messages a second of WeCom send time), then two references sent the same way, --page
 * commands to a pipeline: a PUBLISH to a channel three connections subscribe to (what the pnpm bench peer asks of Redis
 * per message) and a bare XADD of the same event to one of G streams (a durable append with nothing around it). Prints
 * per message: script calls, Redis commands and redis-server CPU µs (from /proc), for comparing script versions on a
 * busy machine, where `pnpm bench` moves with the neighbours, and for reading them against those floors.
 *   pnpm tsx bench/redis-script-cost-bench.ts [--gateways 1000] [--rounds 10] [--users 3000] [--pages 30] [--rate 2000] [--page 100] [--src <state/redis index>]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import type { QueuedEvent } from '@wecom-relay/shared';
import { startRedis } from '@wecom-relay/testkit';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    gateways: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '10' },
    users: { type: 'string', default: '3000' },
    pages: { type: 'string', default: '30' },
    // Messages a second of WeCom send time in the route measurement (its minute's decision trees grow with it).
    rate: { type: 'string', default: '2000' },
    page: { type: 'string', default: '100' },
    // Another build of the Redis stores (e.g. an older one checked out aside), to compare.
    src: { type: 'string' },
  },
});
const stores = (await import(values.src ?? '@wecom-relay/relay-node')) as typeof import('@wecom-relay/relay-node');
const gateways = Number(values.gateways);
const rounds = Number(values.rounds);
const users = Number(values.users);
const pages = Number(values.pages);
const rate = Number(values.rate);
const pageSize = Number(values.page);

const server = await startRedis();
const redis = new Redis(server.url);
// Subscribed once the measurements before the references are over, so they see no subscriber.
const subscribers = [0, 1, 2].map(() => new Redis(server.url));
const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))![1]);
const ticks = () => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
};
const stats = async () => {
  const out = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
};

async function measure(label: string, messages: number, run: () => Promise<void>): Promise<void> {
  const s0 = await stats();
  const t0 = ticks();
  await run();
  const t1 = ticks();
  const s1 = await stats();
  let commands = 0;
  let scripts = 0;
  for (const [cmd, n] of s1) {
    if (cmd === 'info') continue;
    const d = n - (s0.get(cmd) ?? 0);
    commands += d;
    if (cmd === 'evalsha' || cmd === 'eval') scripts += d;
  }
  const usec = ((t1 - t0) * 1e6) / 100;
  console.log(
    `${label}: ${messages} messages, ${(scripts / messages).toFixed(2)} scripts/msg, ${(commands / messages).toFixed(2)} commands/msg, redis CPU ${(usec / messages).toFixed(1)} µs/msg`,
  );
}

const event = (n: number): QueuedEvent => ({
  type: 'inbound',
  id: `msg-${n}`,
  externalUserId: `wm-${n}`,
  msgType: 'text',
  content: `hello ${n} `.repeat(4),
  timestamp: 1_700_000_000,
  wecomMsgType: 'text',
});

try {
  const queue = new stores.RedisDeliveryQueue({ redis, prefix: 'wr:' });
  const ledger = new stores.RedisOutboundLedger({ redis, prefix: 'wr:', firstOpenKfid: 'wk-1' });
  // Loads every script first, so no call below pays for a NOSCRIPT round.
  const warm = await queue.appendMany('gw-warm', [{ event: event(0), options: { dedupKey: 'warm', dedupAt: 1 } }]);
  await queue.ack('gw-warm', warm[0]!);
  await ledger.customerSpoke('wk-1', 'wm-warm', 1000, 'warm');
  const ids: string[][] = Array.from({ length: gateways }, () => []);
  await measure('queue append, one per gateway batch', gateways * rounds, async () => {
    for (let r = 0; r < rounds; r++) {
      await Promise.all(
        ids.map(async (list, g) => {
          const msgid = `from_msgid_${r}_${g}`;
          const [id] = await queue.appendMany(`gw-${g}`, [{ event: event(g), options: { dedupKey: msgid, dedupAt: 1_700_000_000 + r } }]);
          list.push(id!);
        }),
      );
    }
  });
  await measure('queue ack, one at a time per gateway', gateways * rounds, async () => {
    await Promise.all(
      ids.map(async (list, g) => {
        // Each names the id read before it, as the drain does for a frame confirmed on its own (an older build of
        // the stores ignores it).
        for (const [i, id] of list.entries()) await queue.ack(`gw-${g}`, id, i > 0 ? list[i - 1] : undefined);
      }),
    );
  });

  const perPage = Math.min(1000, users);
  await measure(`customerSpoke, pages of ${perPage} users`, pages * perPage, async () => {
    for (let p = 0; p < pages; p++) {
      // Two pages a second of WeCom time: half the notes tie with the user's last second.
      const at = (1_700_000_000 + Math.floor(p / 2)) * 1000;
      await Promise.all(
        Array.from({ length: perPage }, (_, i) => ledger.customerSpoke('wk-1', `wm-${(p * perPage + i) % users}`, at, `from_msgid_${p}_${i}`)),
      );
    }
  });

  // The route script as a pulling node runs it on one server: pages of pageSize messages, each for another user's
  // gateway, WeCom send times at `rate` a second (so a minute's decision trees grow as at that rate), every gateway
  // owned by a live node. Enough pages for 30 s of send time, after 10 s of it as warm-up.
  if (!stores.RedisRouteAppender) throw new Error('this build of the stores has no route script');
  const presence = new stores.RedisPresenceMap({ redis, prefix: 'wr:' });
  const appender = new stores.RedisRouteAppender({
    redis,
    dedup: new stores.RedisDedupStore({ redis, prefix: 'wr:' }),
    queue,
    presence,
    ledger: new stores.RedisOutboundLedger({ redis, prefix: 'wr:' }),
  });
  await presence.heartbeat('node-b', 60_000);
  for (let g = 0; g < gateways; g++) await presence.claim(`gw-${g}`, 'node-b');
  let seq = 0;
  const routePage = async (): Promise<void> => {
    const entries = Array.from({ length: pageSize }, () => {
      const n = seq++;
      return {
        key: `r:route_msgid_${n}`,
        placement: { at: 1_700_000_000 + Math.floor(n / rate) },
        userId: `wm-${n}`,
        gatewayId: `gw-${n % gateways}`,
        event: event(n),
        dedupKey: `route_msgid_${n}`,
      };
    });
    await appender.decideAndAppend(entries, 4 * 24 * 3600_000);
  };
  for (let i = 0; i < (10 * rate) / pageSize; i++) await routePage();
  const routed = Math.floor((30 * rate) / pageSize);
  await measure(`route script, pages of ${pageSize} at ${rate} msg/s of send time`, routed * pageSize, async () => {
    for (let i = 0; i < routed; i++) await routePage();
  });

  // The references: the route script's messages again, each as one plain command in pipelines of pageSize.
  const references = routed * pageSize;
  const pipelined = async (command: (pipeline: ReturnType<Redis['pipeline']>, n: number) => void): Promise<void> => {
    for (let n = 0; n < references; n += pageSize) {
      const pipeline = redis.pipeline();
      for (let i = n; i < n + pageSize; i++) command(pipeline, i);
      await pipeline.exec();
    }
  };
  for (const s of subscribers) await s.subscribe('bench-peer');
  await measure(`reference: PUBLISH to 3 subscribers, ${pageSize} to a pipeline`, references, () =>
    pipelined((pipeline, n) => pipeline.publish('bench-peer', JSON.stringify(event(n)))),
  );
  await measure(`reference: XADD to one of ${gateways} streams, ${pageSize} to a pipeline`, references, () =>
    pipelined((pipeline, n) => pipeline.xadd(`wr:ref:{gw-${n % gateways}}:queue`, '*', 'event', JSON.stringify(event(n)))),
  );
} finally {
  for (const s of subscribers) s.disconnect();
  await redis.quit();
  await server.stop();
}
