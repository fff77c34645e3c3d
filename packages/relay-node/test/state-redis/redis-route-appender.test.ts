import { createHash } from 'node:crypto';
import type { QueuedEvent } from '@wecom-relay/shared';
import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import { RedisBindingStore, RedisDedupStore, RedisDeliveryQueue, RedisOutboundLedger, RedisPresenceMap, RedisRouteAppender } from '../../src/state/redis/index.js';
import type { RouteAppendEntry } from '../../src/state/route-appender.js';
import { commandCalls, ownRedisServer } from './helpers.js';

/**
 * The route appender on a real Redis server: what it decides and queues, what it leaves to its caller, and how many
 * script calls a page costs. The page router's tests (test/inbound) cover it beside the previous version.
 */
const own = ownRedisServer();
const AT = 1_700_000_000;
const TTL = 60_000;

function inbound(id: string): QueuedEvent {
  return { type: 'inbound', id, externalUserId: 'wm-a', msgType: 'text', content: `hello ${id}`, timestamp: AT, wecomMsgType: 'text' };
}

function entry(msgid: string, gatewayId: string, at = AT, userId = `wm-${msgid}`): RouteAppendEntry {
  return { key: `r:${msgid}`, placement: { at }, userId, gatewayId, event: inbound(msgid), dedupKey: msgid };
}

function stores(redis = own.redis, o: { idleTtlMs?: number; now?: () => number; checkBindings?: boolean } = {}) {
  const prefix = uniquePrefix('route-append');
  const dedup = new RedisDedupStore({ redis, prefix });
  const queue = new RedisDeliveryQueue({ redis, prefix, ...(o.idleTtlMs ? { idleTtlMs: o.idleTtlMs } : {}), ...(o.now ? { now: o.now } : {}) });
  const presence = new RedisPresenceMap({ redis, prefix });
  const ledger = new RedisOutboundLedger({ redis, prefix });
  const bindings = new RedisBindingStore({ redis, prefix });
  const appender = new RedisRouteAppender({ redis, dedup, queue, presence, ledger, ...(o.checkBindings ? { bindings } : {}) });
  const ids = async (gatewayId: string) => (await queue.readAfter(gatewayId, null, 1000)).map((i) => (i.event as { id: string }).id);
  return { prefix, dedup, queue, presence, ledger, bindings, appender, ids };
}

describe('RedisRouteAppender', () => {
  it('queues 300 messages of 3 gateways in page order with 2 script calls, and appends none of them twice', async () => {
    const { appender, ids } = stores();
    const page = Array.from({ length: 300 }, (_, i) => entry(`m-${i}`, `gw-${i % 3}`, AT + Math.floor(i / 100) * 60));
    // The server learns the script first, so the count below holds no NOSCRIPT round.
    await appender.decideAndAppend([entry('warm', 'gw-warm')], TTL);
    const before = await commandCalls(own.redis);
    const first = await appender.decideAndAppend(page, TTL);
    const after = await commandCalls(own.redis);
    expect((after.get('evalsha') ?? 0) - (before.get('evalsha') ?? 0)).toBe(2);
    expect(first.every((r, i) => r.decision === `=gw-${i % 3}` && r.id !== null)).toBe(true);
    const again = await appender.decideAndAppend(page, TTL);
    expect(again.every((r, i) => r.decision === `=gw-${i % 3}` && r.id === null)).toBe(true);
    for (let g = 0; g < 3; g++) {
      expect(await ids(`gw-${g}`)).toEqual(page.filter((_, i) => i % 3 === g).map((e) => e.dedupKey));
    }
  });

  it("checking bindings, takes no decision for a user no longer bound to the entry's gateway: moved, nothing written", async () => {
    const { appender, bindings, dedup, ids } = stores(own.redis, { checkBindings: true });
    expect(appender.checksBindings).toBe(true);
    await bindings.bind('wm-a', 'gw-2');
    await bindings.bind('wm-b', 'gw-1');
    const results = await appender.decideAndAppend(
      [entry('m-1', 'gw-1', AT, 'wm-a'), entry('m-2', 'gw-1', AT, 'wm-b'), entry('m-3', 'gw-1', AT, 'wm-c'), entry('m-4', 'gw-1', AT, 'wm-a')],
      TTL,
    );
    expect(results.map((r) => [r.decision, r.moved ?? false, r.id !== null])).toEqual([
      ['', true, false],
      ['=gw-1', false, true],
      ['', true, false],
      ['', true, false],
    ]);
    expect(await ids('gw-1')).toEqual(['m-2']);
    expect(await dedup.recall('r:m-1', { at: AT })).toBeNull();
    // Given the binding as it is, it is decided; and once decided, the decision stands whatever the binding becomes.
    expect((await appender.decideAndAppend([entry('m-1', 'gw-2', AT, 'wm-a')], TTL))[0]!.decision).toBe('=gw-2');
    await bindings.bind('wm-a', 'gw-3');
    const again = await appender.decideAndAppend([entry('m-1', 'gw-3', AT, 'wm-a')], TTL);
    expect(again).toEqual([{ decision: '=gw-2', id: null }]);
    expect(await ids('gw-2')).toEqual(['m-1']);
    expect(await ids('gw-3')).toEqual([]);
  });

  it('notes the send windows it is given before anything it appends, in the first of its calls', async () => {
    const { appender, ledger, ids } = stores();
    const page = Array.from({ length: 300 }, (_, i) => entry(`m-${i}`, 'gw-1'));
    await appender.decideAndAppend(page, TTL, [
      { openKfid: 'wk-1', externalUserId: 'wm-a', atMs: AT * 1000, msgid: 'm-0' },
      { openKfid: 'wk-1', externalUserId: 'wm-b', atMs: (AT + 5) * 1000, msgid: 'm-299' },
    ]);
    expect(await ids('gw-1')).toHaveLength(300);
    expect(await ledger.window('wk-1', 'wm-a')).toEqual({ lastCustomerAt: AT * 1000, sentSince: 0 });
    expect(await ledger.window('wk-1', 'wm-b')).toEqual({ lastCustomerAt: (AT + 5) * 1000, sentSince: 0 });
    // Windows alone, with no entry, are noted too.
    expect(await appender.decideAndAppend([], TTL, [{ openKfid: 'wk-1', externalUserId: 'wm-c', atMs: AT * 1000, msgid: 'm-x' }])).toEqual([]);
    expect((await ledger.window('wk-1', 'wm-c')).lastCustomerAt).toBe(AT * 1000);
  });

  it('marks the messages it notes in a send window as the ledger does, so a page pulled again opens no window anew', async () => {
    const { appender, ledger, prefix, redis } = { ...stores(), redis: own.redis };
    const note = (msgid: string) => ({ openKfid: 'wk-1', externalUserId: 'wm-a', atMs: AT * 1000, msgid });
    await appender.decideAndAppend([entry('m-1', 'gw-1', AT, 'wm-a')], TTL, [note('m-1')]);
    await ledger.recordSend('wk-1', 'wm-a', 'reply-1', null, TTL);
    // The same page again, through the route step and through the ledger: the message is known, the send counts.
    await appender.decideAndAppend([entry('m-1', 'gw-1', AT, 'wm-a')], TTL, [note('m-1')]);
    await ledger.customerSpoke('wk-1', 'wm-a', AT * 1000, 'm-1');
    expect(await ledger.window('wk-1', 'wm-a')).toEqual({ lastCustomerAt: AT * 1000, sentSince: 1 });
    const mark = createHash('sha1').update('m-1').digest('hex').slice(0, 8);
    expect(await redis.hget(`${prefix}{user:wm-a}:window:wk-1`, 'ids')).toBe(mark);
    // A message of the same second not seen before opens it again.
    await appender.decideAndAppend([entry('m-2', 'gw-1', AT, 'wm-a')], TTL, [note('m-2')]);
    expect(await ledger.window('wk-1', 'wm-a')).toEqual({ lastCustomerAt: AT * 1000, sentSince: 0 });
  });

  it("keeps a user's entries in one script call however far apart, and answers in the order given", async () => {
    const { appender, bindings, queue, ids } = stores(own.redis, { checkBindings: true });
    // wm-x's first and last entries are 299 apart: the second call (entries 256 on) must not take the last one.
    const page = Array.from({ length: 300 }, (_, i) =>
      i === 0 || i === 299 ? entry(`m-${i}`, 'gw-x', AT, 'wm-x') : entry(`m-${i}`, `gw-${i % 2}`, AT, `wm-${i}`),
    );
    const calls: string[][] = [];
    const spied = (appender as unknown as { run: (entries: RouteAppendEntry[], ...rest: unknown[]) => Promise<unknown> }).run.bind(appender);
    (appender as unknown as { run: unknown }).run = async (entries: RouteAppendEntry[], ...rest: unknown[]) => {
      calls.push(entries.map((e) => e.dedupKey));
      return await spied(entries, ...rest);
    };
    for (const e of page) await bindings.bind(e.userId, e.gatewayId);
    const results = await appender.decideAndAppend(page, TTL);
    expect(calls.map((c) => c.length)).toEqual([257, 43]);
    expect(calls[0]).toContain('m-299');
    // Each answer where its entry was.
    expect(results.map((r) => r.decision)).toEqual(page.map((e) => `=${e.gatewayId}`));
    expect(await ids('gw-x')).toEqual(['m-0', 'm-299']);
    const queued = await queue.readAfter('gw-x', null, 10);
    expect([results[0]!.id, results[299]!.id]).toEqual(queued.map((item) => item.id));
  });

  it('answers a decision that stands for no gateway, for the binding flow or for another gateway as it is, queueing nothing', async () => {
    const { appender, dedup, ids } = stores();
    await dedup.decide('r:m-unbound', '-', TTL, { at: AT });
    await dedup.decide('r:m-token', '#', TTL, { at: AT });
    await dedup.decide('r:m-other', '>gw-2', TTL, { at: AT });
    // Recorded alone, as a relay before packing kept decisions.
    await dedup.decide('r:m-alone', '>gw-3', TTL);
    const results = await appender.decideAndAppend([entry('m-unbound', 'gw-1'), entry('m-token', 'gw-1'), entry('m-other', 'gw-1'), entry('m-alone', 'gw-1')], TTL);
    expect(results).toEqual([
      { decision: '-', id: null },
      { decision: '#', id: null },
      { decision: '>gw-2', id: null },
      { decision: '>gw-3', id: null },
    ]);
    expect(await ids('gw-1')).toEqual([]);
    expect(await ids('gw-2')).toEqual([]);
  });

  it("reads the live owner of each entry's gateway, for a wake-up: a live node's, none for a dead node's or no record", async () => {
    const { appender, presence } = stores();
    await presence.heartbeat('node-a', 60_000);
    await presence.claim('gw-1', 'node-a');
    const { generation } = await presence.claim('gw-2', 'node-dead');
    const results = await appender.decideAndAppend([entry('m-1', 'gw-1'), entry('m-2', 'gw-2'), entry('m-3', 'gw-3'), entry('m-4', 'gw-1')], TTL);
    expect(results.map((r) => r.owner)).toEqual([{ nodeId: 'node-a', generation: 1 }, null, null, { nodeId: 'node-a', generation: 1 }]);
    expect(generation).toBe(1);
    // Pulled again: nothing appended, the owners read all the same (a repeated page wakes its gateways again).
    await presence.claim('gw-1', 'node-a');
    const again = await appender.decideAndAppend([entry('m-1', 'gw-1')], TTL);
    expect(again).toEqual([{ decision: '=gw-1', id: null, owner: { nodeId: 'node-a', generation: 2 } }]);
  });

  it("appends a standing decision for the entry's own gateway once, unless its queue marker shows it was appended", async () => {
    const { appender, dedup, queue, ids } = stores();
    await dedup.decideMany(
      [
        { key: 'r:m-1', value: '>gw-1', placement: { at: AT } },
        { key: 'r:m-2', value: '>gw-1', placement: { at: AT } },
        { key: 'r:m-3', value: '>gw-1', placement: { at: AT } },
      ],
      TTL,
    );
    await queue.appendMany('gw-1', [{ event: inbound('m-1'), options: { dedupKey: 'm-1', dedupAt: AT } }]);
    // Marked alone, as a relay before packing marked appends.
    await queue.append('gw-1', inbound('m-2'), { dedupKey: 'm-2' });
    const results = await appender.decideAndAppend([entry('m-1', 'gw-1'), entry('m-2', 'gw-1'), entry('m-3', 'gw-1')], TTL);
    expect(results.map((r) => [r.decision, r.id !== null])).toEqual([
      ['>gw-1', false],
      ['>gw-1', false],
      ['>gw-1', true],
    ]);
    await appender.decideAndAppend([entry('m-3', 'gw-1')], TTL);
    expect(await ids('gw-1')).toEqual(['m-1', 'm-2', 'm-3']);
  });

  it('writes and reads decisions and queue markers under the bytes the stores compute (its fields travel as hex)', async () => {
    const { appender, dedup, queue } = stores();
    // Hundreds of SHA-1 fields: every byte position takes high and low values, and the trees grow below their roots.
    const page = Array.from({ length: 400 }, (_, i) => entry(`m-${i}`, `gw-${i % 4}`));
    await appender.decideAndAppend(page, TTL);
    const recalled = await Promise.all(page.map((e) => dedup.recall(e.key, e.placement)));
    expect(recalled).toEqual(page.map((e) => `=${e.gatewayId}`));
    // Under the 12 bytes the stores compute (a few per root of 64: none went below its root).
    const raw = await Promise.all(
      page.map((e) => {
        const place = dedup.placeOf(e.key, e.placement);
        return own.redis.hget(place.root, place.field);
      }),
    );
    expect(raw).toEqual(page.map((e) => `=${e.gatewayId}`));

    // Decisions of the previous version for the entry's own gateway: the script appends and marks them, and the
    // queue's own append then finds every marker.
    const older = Array.from({ length: 300 }, (_, i) => entry(`o-${i}`, 'gw-9'));
    await dedup.decideMany(
      older.map((e) => ({ key: e.key, value: '>gw-9', placement: e.placement })),
      TTL,
    );
    const results = await appender.decideAndAppend(older, TTL);
    expect(results.every((r) => r.decision === '>gw-9' && r.id !== null)).toBe(true);
    const again = await queue.appendMany(
      'gw-9',
      older.map((e) => ({ event: e.event, options: { dedupKey: e.dedupKey, dedupAt: e.placement.at } })),
    );
    expect(again.filter((id) => id !== null)).toEqual([]);
  });

  it('gives what it creates its expiry: a decision tree the decisions\' ttl and a minute, a marker tree 4 days and an hour, a queue its idle ttl', async () => {
    const idleTtlMs = 3 * 24 * 3600_000;
    const { appender, dedup, queue } = stores(own.redis, { idleTtlMs });
    const near = async (key: string, px: number) => {
      const left = await own.redis.pttl(key);
      expect(left, key).toBeLessThanOrEqual(px);
      expect(left, key).toBeGreaterThan(px - 10_000);
    };
    const fresh = entry('x-1', 'gw-x');
    await appender.decideAndAppend([fresh], TTL);
    await near(dedup.placeOf(fresh.key, fresh.placement).root, TTL + 60_000);
    await near(queue.placeOf('gw-x', 'x-1', AT).stream, idleTtlMs);
    // A decision of the previous version for the entry's own gateway: the step appends it and creates its marker tree.
    const older = entry('x-2', 'gw-y');
    await dedup.decide(older.key, '>gw-y', TTL, older.placement);
    expect((await appender.decideAndAppend([older], TTL))[0]!.id).not.toBeNull();
    const stream = queue.placeOf('gw-y', 'x-2', AT).stream;
    await near(`${stream.slice(0, -':queue'.length)}:dp:${Math.floor(AT / 3600)}`, 4 * 24 * 3600_000 + 3600_000);
  });

  it('works the same through a client with its own keyPrefix: every key it reads or writes is under that prefix', async () => {
    const prefixed = own.redis.duplicate({ keyPrefix: 'kp:' });
    try {
      const { appender, dedup, presence, ledger, ids, prefix } = stores(prefixed, { checkBindings: true });
      const bound = new RedisBindingStore({ redis: prefixed, prefix });
      for (const user of ['wm-m-1', 'wm-m-2', 'wm-m-3']) await bound.bind(user, 'gw-1');
      // Written through the prefixed client, each in its own place: the tree, and a decision kept alone (no placement).
      await dedup.decide('r:m-2', '>gw-1', TTL, { at: AT });
      await dedup.decide('r:m-3', '>gw-2', TTL);
      await presence.heartbeat('node-a', 60_000);
      await presence.claim('gw-1', 'node-a');
      const window = { openKfid: 'wk-1', externalUserId: 'wm-m-1', atMs: AT * 1000, msgid: 'm-1' };
      const first = await appender.decideAndAppend([entry('m-1', 'gw-1'), entry('m-2', 'gw-1'), entry('m-3', 'gw-1')], TTL, [window]);
      expect(first.map((r) => [r.decision, r.id !== null])).toEqual([
        ['=gw-1', true],
        ['>gw-1', true],
        ['>gw-2', false],
      ]);
      expect(first[0]!.owner).toEqual({ nodeId: 'node-a', generation: 1 });
      expect(await ledger.window('wk-1', 'wm-m-1')).toEqual({ lastCustomerAt: AT * 1000, sentSince: 0 });
      const again = await appender.decideAndAppend([entry('m-1', 'gw-1'), entry('m-2', 'gw-1')], TTL);
      expect(again.map((r) => r.id !== null)).toEqual([false, false]);
      expect(await ids('gw-1')).toEqual(['m-1', 'm-2']);
      // Nothing outside the prefix: a key named without it would be a record no other client of the prefix finds.
      const stray = (await own.redis.keys(`*${prefix}*`)).filter((k) => !k.startsWith('kp:'));
      expect(stray).toEqual([]);
    } finally {
      prefixed.disconnect();
    }
  });

  it("sets a queue's expiry when it creates the queue and an hour after this node last set it, not on every append", async () => {
    const DAY = 24 * 3600_000;
    let now = 0;
    const { appender, dedup, queue, ids } = stores(own.redis, { idleTtlMs: DAY, now: () => now });
    const stream = queue.placeOf('gw-1', 'm-0', AT).stream;
    const ttl = () => own.redis.pttl(stream);

    await appender.decideAndAppend([entry('m-1', 'gw-1')], TTL);
    expect(await ttl()).toBeGreaterThan(DAY - 60_000);
    // As if most of a day had gone by: an append within the hour leaves the expiry where it is.
    await own.redis.pexpire(stream, 300_000);
    now += 3599_000;
    await appender.decideAndAppend([entry('m-2', 'gw-1')], TTL);
    expect(await ttl()).toBeLessThanOrEqual(300_000);
    now += 1_000;
    await appender.decideAndAppend([entry('m-3', 'gw-1')], TTL);
    expect(await ttl()).toBeGreaterThan(DAY - 60_000);

    // The queue gone within the hour (expired, deleted): the append that creates it again gives it its expiry, on
    // both of the script's append paths.
    await own.redis.del(stream);
    await appender.decideAndAppend([entry('m-4', 'gw-1')], TTL);
    expect(await ttl()).toBeGreaterThan(DAY - 60_000);
    await own.redis.del(stream);
    await dedup.decide('r:m-5', '>gw-1', TTL, { at: AT });
    const [standing] = await appender.decideAndAppend([entry('m-5', 'gw-1')], TTL);
    expect(standing).toMatchObject({ decision: '>gw-1', id: expect.any(String) });
    expect(await ttl()).toBeGreaterThan(DAY - 60_000);
    expect(await ids('gw-1')).toEqual(['m-5']);

    // A page of duplicates appends nothing and so sets no expiry: the next append within the hour still does.
    const other = queue.placeOf('gw-2', 'm-0', AT).stream;
    await appender.decideAndAppend([entry('m-6', 'gw-2')], TTL);
    await own.redis.pexpire(other, 300_000);
    now += 3600_000;
    await appender.decideAndAppend([entry('m-6', 'gw-2')], TTL);
    expect(await own.redis.pttl(other)).toBeLessThanOrEqual(300_000);
    await appender.decideAndAppend([entry('m-7', 'gw-2')], TTL);
    expect(await own.redis.pttl(other)).toBeGreaterThan(DAY - 60_000);
  });

  it('reports for each entry it appends the id its queue ended with just before, for the wake-up to carry', async () => {
    const parts = stores();
    const { appender, queue } = parts;
    const first = await appender.decideAndAppend([entry('m-1', 'gw-1'), entry('m-2', 'gw-2'), entry('m-3', 'gw-1')], TTL);
    expect(first.map((r) => r.appended?.after)).toEqual([null, null, first[0]!.id]);
    expect(first.every((r) => r.appended!.enqueuedAt > 1_700_000_000_000)).toBe(true);
    // A repeat appends nothing and reports nothing; the next append follows the queue's last item.
    const again = await appender.decideAndAppend([entry('m-3', 'gw-1'), entry('m-4', 'gw-1')], TTL);
    expect(again.map((r) => r.appended)).toEqual([undefined, { after: first[2]!.id, enqueuedAt: expect.any(Number) }]);
    // Acknowledged items are deleted: a node that did not append them finds the queue's last item, or nothing; the node
    // that did reports its own last id, which stands past the queue's end, as safe for a drain (a pointer before it
    // reads the queue).
    await queue.ack('gw-1', again[1]!.id!);
    const [next] = await appender.decideAndAppend([entry('m-5', 'gw-1')], TTL);
    expect(next!.appended!.after).toBe(again[1]!.id);
    await queue.ack('gw-1', next!.id!);
    const [elsewhere] = await otherNode(parts).decideAndAppend([entry('m-6', 'gw-1')], TTL);
    expect(elsewhere!.appended!.after).toBeNull();
    const [other] = await appender.decideAndAppend([entry('m-7', 'gw-2')], TTL);
    expect(other!.appended!.after).toBe(first[1]!.id);
  });

  it("reports the queue's real last item where another node appended after this node's last id", async () => {
    const parts = stores();
    const [mine] = await parts.appender.decideAndAppend([entry('m-1', 'gw-1')], TTL);
    const [theirs] = await otherNode(parts).decideAndAppend([entry('m-2', 'gw-1'), entry('m-3', 'gw-1')], TTL);
    expect(theirs!.appended!.after).toBe(mine!.id);
    const [next] = await parts.appender.decideAndAppend([entry('m-4', 'gw-1')], TTL);
    const ids = (await parts.queue.readAfter('gw-1', null, 10)).map((i) => i.id);
    expect(ids).toHaveLength(4);
    expect(next!.appended!.after).toBe(ids[2]);
    // Its own append known again, the next one follows it.
    const [last] = await parts.appender.decideAndAppend([entry('m-5', 'gw-1')], TTL);
    expect(last!.appended!.after).toBe(next!.id);
  });
});

/** A route appender on the same Redis keys with nothing appended yet: another node's (its queue remembers nothing). */
function otherNode(parts: ReturnType<typeof stores>): RedisRouteAppender {
  const queue = new RedisDeliveryQueue({ redis: own.redis, prefix: parts.prefix });
  return new RedisRouteAppender({ redis: own.redis, dedup: parts.dedup, queue, presence: parts.presence, ledger: parts.ledger });
}
