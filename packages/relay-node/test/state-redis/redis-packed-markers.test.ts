import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KfMessage } from '@wecom-relay/shared';
import { startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';
import { BatchEnqueuer } from '../../src/delivery/enqueue-batch.js';
import { commandCalls } from './helpers.js';
import { PageRouter } from '../../src/inbound/page-router.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemoryBusHub, MemoryNodeBus } from '../../src/state/memory/index.js';
import { RedisBindingStore, RedisDedupStore, RedisDeliveryQueue, RedisOutboundLedger, RedisPresenceMap, RedisRouteAppender } from '../../src/state/redis/index.js';
import { packedField, packedShard } from '../../src/state/redis/packed-keys.js';
import { PACKED_HASH_ENTRIES } from '../../src/state/redis/packed-tree.js';

/** Routing and dedup records on a real Redis: what a re-pull finds, across versions, and what they cost in memory. */
let server: RedisHandle;
let redis: Redis;

beforeAll(async () => {
  // Hashes stay compact up to 128 fields, as Redis's shipped redis.conf sets it (a server without one allows 512).
  server = await startRedis({ serverArgs: ['--hash-max-listpack-entries', '128'] });
  redis = new Redis(server.url);
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

const T0 = 1_700_000_000;
/** How long WeCom serves a message again after it was sent: a packed record must outlive it. */
const THREE_DAYS = 3 * 24 * 3600_000;

function text(msgid: string, user: string, sendTime: number): KfMessage {
  return { msgid, external_userid: user, open_kfid: 'wk-test', send_time: sendTime, origin: 3, msgtype: 'text', text: { content: `hello ${msgid}` } };
}

/** A node's routing on these Redis stores; `oneStep`: decided and queued in one step, as on one Redis server. */
function relay(prefix: string, oneStep = false) {
  const metrics = createMetrics('node-a');
  const logger = pino({ level: 'silent' });
  const queue = new RedisDeliveryQueue({ redis, prefix });
  const dedup = new RedisDedupStore({ redis, prefix });
  const bindings = new RedisBindingStore({ redis, prefix });
  const presence = new RedisPresenceMap({ redis, prefix });
  const ledger = new RedisOutboundLedger({ redis, prefix });
  const router = new PageRouter({
    dispatcher: {
      dispatch: async (m) => {
        throw new Error(`only plain pages here, got ${m.msgid}`);
      },
    },
    bindings,
    ledger,
    dedup,
    ...(oneStep ? { appender: new RedisRouteAppender({ redis, dedup, queue, presence, ledger, bindings }) } : {}),
    enqueuer: new BatchEnqueuer({
      nodeId: 'node-a',
      queue,
      presence,
      bus: new MemoryNodeBus({ hub: new MemoryBusHub() }),
      delivery: { noteAppended: () => undefined, wakeLocal: () => undefined },
      metrics,
    }),
    logger,
    metrics,
    firstPullMaxAgeMs: 10 * 60_000,
  });
  const queuedIds = async (gatewayId: string) =>
    (await queue.readAfter(gatewayId, null, 10_000)).flatMap((item) => (item.event.type === 'inbound' ? [item.event.id] : []));
  return { queue, dedup, bindings, router, queuedIds };
}

describe('packed routing and dedup records', () => {
  it('a page the previous version handled, pulled again here after a rebind, hands each message on once', async () => {
    const prefix = uniquePrefix('upgrade');
    const r = relay(prefix);
    await r.bindings.bind('wm-a', 'gw-1');
    const page = [text('m-1', 'wm-a', T0), text('m-2', 'wm-a', T0 + 1), text('m-3', 'wm-a', T0 + 2)];
    // The previous version, message by message, with its records one key each: m-1 decided and appended, m-2
    // decided only (it stopped there). These calls, without placement, write exactly the records it wrote.
    const fourDays = 4 * 24 * 3600_000;
    expect(await r.dedup.decide('r:m-1', '>gw-1', fourDays)).toBe('>gw-1');
    expect(await r.queue.append('gw-1', { type: 'inbound', id: 'm-1', externalUserId: 'wm-a', msgType: 'text', content: 'hello m-1', timestamp: T0 } as never, { dedupKey: 'm-1' })).not.toBeNull();
    expect(await r.dedup.decide('r:m-2', '>gw-1', fourDays)).toBe('>gw-1');
    expect(await redis.get(`${prefix}dedup:r:m-1`)).toBe('>gw-1');
    expect(await redis.exists(`${prefix}{gw:gw-1}:dedup:m-1`)).toBe(1);
    // The user moves to gw-2; the page comes round again, now to this version, twice.
    await r.bindings.bind('wm-a', 'gw-2');
    await r.router.route(page, { firstPull: false, openKfid: 'wk-test' });
    await r.router.route(page, { firstPull: false, openKfid: 'wk-test' });
    expect(await r.queuedIds('gw-1')).toEqual(['m-1', 'm-2']);
    expect(await r.queuedIds('gw-2')).toEqual(['m-3']);
    // This version kept its own records packed, not one key per message.
    expect(await redis.exists(`${prefix}dedup:r:m-3`, `${prefix}{gw:gw-2}:dedup:m-3`)).toBe(0);
  });

  // Each decision names its gateway, so the gateway id's length counts: a byte more for each further character (a UUID
  // is 36). Decided and queued apart (a Redis Cluster), each message also keeps its queue marker; decided and queued in
  // one step (one Redis server), the decision alone.
  for (const [label, idOf, limit, oneStep] of [
    ['12-character gateway ids, decided and queued apart', (g: number) => `gateway-${String(g).padStart(4, '0')}`, 64, false],
    ['UUID gateway ids, decided and queued apart', (g: number) => `3f2b8c1e-6d4a-4f7e-9b2a-${String(g).padStart(12, '0')}`, 64 + 24, false],
    ['12-character gateway ids, decided and queued in one step', (g: number) => `gateway-${String(g).padStart(4, '0')}`, 40, true],
    ['UUID gateway ids, decided and queued in one step', (g: number) => `3f2b8c1e-6d4a-4f7e-9b2a-${String(g).padStart(12, '0')}`, 40 + 24, true],
  ] as const) {
    it(`keeps at most ${limit} bytes per delivered message with ${label}: 10,000 messages at 100 a second over 200 gateways`, async () => {
      const prefix = uniquePrefix('footprint');
      const r = relay(prefix, oneStep);
      const users = 1000;
      for (let u = 0; u < users; u++) await r.bindings.bind(`wmAJ2GCAAAme1XQRC-NI-q0_ZM9uk${u}`, idOf(u % 200));
      const messages = 10_000;
      for (let p = 0; p < messages; p += 1000) {
        const page: KfMessage[] = [];
        for (let i = p; i < p + 1000; i++) {
          page.push(text(`from_msgid_${4622416642169452483n + BigInt(i)}`, `wmAJ2GCAAAme1XQRC-NI-q0_ZM9uk${i % users}`, T0 + Math.floor(i / 100)));
        }
        await r.router.route(page, { firstPull: false, openKfid: 'wk-test' });
      }
      // Every gateway acknowledged everything: what stays are the records a re-pull needs.
      for (let g = 0; g < 200; g++) {
        const items = await r.queue.readAfter(idOf(g), null, 10_000);
        await r.queue.ack(idOf(g), items.at(-1)!.id);
      }
      let bytes = 0;
      let keys = 0;
      for (const pattern of [`${prefix}dp:*`, `${prefix}{gw:*}:dp:*`, `${prefix}dedup:*`, `${prefix}{gw:*}:dedup:*`]) {
        let cursor = '0';
        do {
          const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          for (const key of batch) {
            bytes += Number(await redis.memory('USAGE', key));
            keys++;
          }
        } while (cursor !== '0');
      }
      console.log(`${label}: routing and dedup records kept: ${bytes} bytes in ${keys} keys for ${messages} messages = ${(bytes / messages).toFixed(1)} B/message`);
      expect(keys).toBeGreaterThan(0);
      expect(bytes / messages).toBeLessThanOrEqual(limit);
    }, 60_000);
  }

  it("keeps a busy minute's 10,000 routing decisions in Redis's compact hash encoding, each found again", async () => {
    const prefix = uniquePrefix('busy');
    const dedup = new RedisDedupStore({ redis, prefix });
    const fourDays = 4 * 24 * 3600_000;
    const at = T0 + 7;
    const key = (i: number) => `r:from_msgid_${4622416642169452483n + BigInt(i)}`;
    const decisions = 10_000;
    const before = await commandCalls(redis);
    for (let p = 0; p < decisions; p += 1000) {
      const page = Array.from({ length: 1000 }, (_, j) => ({ key: key(p + j), value: `>gateway-${(p + j) % 200}`, placement: { at } }));
      expect(await dedup.decideMany(page, fourDays)).toEqual(page.map((e) => e.value));
    }
    const after = await commandCalls(redis);
    const hashes = await scanKeys(`${prefix}*`);
    expect(hashes.length).toBeGreaterThan(64);
    // Each hash's expiry is written once, when the hash is made, not looked up and moved on every write.
    const used = (command: string) => (after.get(command) ?? 0) - (before.get(command) ?? 0);
    expect(used('pexpire')).toBe(hashes.length);
    expect(used('pttl')).toBe(0);
    for (const hash of hashes) expect([hash, await redis.object('ENCODING', hash)]).toEqual([hash, 'listpack']);
    // Every decision stands for a re-pull, however deep it went, and a second pull changes none of them.
    const again = Array.from({ length: decisions }, (_, i) => ({ key: key(i), value: '>elsewhere', placement: { at } }));
    expect(await dedup.decideMany(again, fourDays)).toEqual(again.map((_, i) => `>gateway-${i % 200}`));
    for (const i of [0, 4_321, decisions - 1]) {
      expect(await dedup.recall(key(i), { at })).toBe(`>gateway-${i % 200}`);
      expect(await dedup.decide(key(i), '>elsewhere', fourDays, { at })).toBe(`>gateway-${i % 200}`);
    }
    expect(await dedup.recall('r:from_msgid_never-seen', { at })).toBeNull();
    // Every hash lives as long as the newest decision anywhere below it.
    for (const hash of hashes) expect(await redis.pttl(hash)).toBeGreaterThan(fourDays);
  }, 60_000);

  it('a full minute written by the previous version, one hash of any size, is read as it is and grown below', async () => {
    const prefix = uniquePrefix('grown');
    const dedup = new RedisDedupStore({ redis, prefix });
    const fourDays = 4 * 24 * 3600_000;
    const at = T0 + 9;
    // The previous version put every decision of a minute's shard into its one hash: here 300 of them.
    const shardKeys: string[] = [];
    for (let i = 0; shardKeys.length < 2 * PACKED_HASH_ENTRIES + 44; i++) if (packedShard(packedField(`r:old-${i}`)) === 5) shardKeys.push(`r:old-${i}`);
    const root = `${prefix}dp:${Math.floor(at / 60)}:5`;
    for (const k of shardKeys) await redis.hset(root, packedField(k), '>gw-old');
    // The expiry its last write gave it.
    await redis.pexpire(root, fourDays + 60_000);
    expect(await redis.hlen(root)).toBe(shardKeys.length);
    // Re-pulled here, every one stands (one at a time and a page at once), in that one hash.
    for (const k of shardKeys.slice(0, 3)) {
      expect(await dedup.decide(k, '>gw-new', fourDays, { at })).toBe('>gw-old');
      expect(await dedup.recall(k, { at })).toBe('>gw-old');
    }
    const page = shardKeys.map((k) => ({ key: k, value: '>gw-new', placement: { at } }));
    expect(await dedup.decideMany(page, fourDays)).toEqual(shardKeys.map(() => '>gw-old'));
    // New decisions of that shard go below it, and every hash of the tree outlives the 3 days in which WeCom serves
    // the minute's messages again.
    const fresh: string[] = [];
    for (let i = 0; fresh.length < 20; i++) if (packedShard(packedField(`r:new-${i}`)) === 5) fresh.push(`r:new-${i}`);
    expect(await dedup.decideMany(fresh.map((k) => ({ key: k, value: '>gw-new', placement: { at } })), fourDays)).toEqual(fresh.map(() => '>gw-new'));
    expect(await redis.hlen(root)).toBe(shardKeys.length);
    const tree = await scanKeys(`${prefix}*`);
    expect(tree.length).toBeGreaterThan(1);
    for (const hash of tree) expect(await redis.pttl(hash)).toBeGreaterThan(THREE_DAYS);
    for (const k of fresh) expect(await dedup.recall(k, { at })).toBe('>gw-new');
  });

  it("keeps a busy gateway's hour of 10,000 dedup markers in Redis's compact hash encoding, each refusing its repeat", async () => {
    const prefix = uniquePrefix('busy-gw');
    const queue = new RedisDeliveryQueue({ redis, prefix });
    const at = T0 + 11;
    const entries = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => ({
        event: { type: 'inbound', id: `m-${from + i}`, externalUserId: 'wm-a', msgType: 'text', content: 'hi', timestamp: at } as never,
        options: { dedupKey: `from_msgid_${4622416642169452483n + BigInt(from + i)}`, dedupAt: at },
      }));
    // The previous version kept the hour in one hash of any size: 200 markers of it there.
    const root = `${prefix}{gw:gw-busy}:dp:${Math.floor(at / 3600)}`;
    for (const e of entries(0, 200)) await redis.hset(root, packedField(e.options.dedupKey), '1');
    // The expiry its last write gave it.
    await redis.pexpire(root, 4 * 24 * 3600_000 + 3600_000);
    for (let p = 0; p < 10_000; p += 1000) {
      const ids = await queue.appendMany('gw-busy', entries(p, 1000));
      expect(ids.filter((id) => id !== null)).toHaveLength(p === 0 ? 800 : 1000);
    }
    expect((await queue.backlog('gw-busy')).items).toBe(9_800);
    const hashes = (await scanKeys(`${prefix}{gw:gw-busy}:dp:*`)).filter((k) => k !== root);
    expect(hashes.length).toBeGreaterThan(8);
    for (const hash of hashes) expect([hash, await redis.object('ENCODING', hash)]).toEqual([hash, 'listpack']);
    // A re-pull of the whole hour appends nothing again.
    for (let p = 0; p < 10_000; p += 1000) expect((await queue.appendMany('gw-busy', entries(p, 1000))).filter((id) => id !== null)).toEqual([]);
    expect((await queue.backlog('gw-busy')).items).toBe(9_800);
    // Every hash of the hour outlives the 3 days in which WeCom serves its messages again.
    for (const hash of [root, ...hashes]) expect(await redis.pttl(hash)).toBeGreaterThan(THREE_DAYS);
  }, 60_000);
});

async function scanKeys(match: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    out.push(...batch);
  } while (cursor !== '0');
  return out;
}
