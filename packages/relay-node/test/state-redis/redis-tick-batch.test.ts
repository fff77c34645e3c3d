import type { QueuedEvent } from '@wecom-relay/shared';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import { RedisBindingStore, RedisDedupStore, RedisDeliveryQueue, RedisPresenceMap } from '../../src/state/redis/index.js';
import { commandCalls, ownRedisServer, sending } from './helpers.js';

/**
 * On one Redis server, the calls a pulled page makes side by side (a lookup per user, an append per gateway, an owner
 * lookup per gateway, a read per woken gateway) go out as one command each, and every caller still gets its own answer.
 * Commands are counted by the server (`INFO commandstats`), so a change that goes back to one command per call fails here.
 */
const own = ownRedisServer({ enableAutoPipelining: true });
const silent = pino({ level: 'silent' });

/** Top-level commands the server ran during `work` (nested script calls included under their own names). */
async function counting<T>(names: string[], work: () => Promise<T>): Promise<{ result: T; counts: Record<string, number> }> {
  const before = await commandCalls(own.redis);
  const result = await work();
  const after = await commandCalls(own.redis);
  return { result, counts: Object.fromEntries(names.map((n) => [n, (after.get(n) ?? 0) - (before.get(n) ?? 0)])) };
}

function inbound(id: string): QueuedEvent {
  return { type: 'inbound', id, externalUserId: 'wm-a', msgType: 'text', content: `hello ${id}`, timestamp: 1_700_000_000, wecomMsgType: 'text' };
}

describe('calls made side by side on one Redis server', () => {
  it('100 binding lookups are one HMGET, each caller getting its own user', async () => {
    const bindings = new RedisBindingStore({ redis: own.redis, prefix: uniquePrefix('batch-bind') });
    for (let u = 0; u < 100; u += 2) await bindings.bind(`wm-${u}`, `gw-${u % 7}`);
    const { result, counts } = await counting(['hmget', 'hget'], () => Promise.all(Array.from({ length: 100 }, (_, u) => bindings.gatewayFor(`wm-${u}`))));
    expect(result).toEqual(Array.from({ length: 100 }, (_, u) => (u % 2 === 0 ? `gw-${u % 7}` : null)));
    expect(counts).toEqual({ hmget: 1, hget: 0 });
  });

  it('appends for 60 gateways are one script call; each gateway gets its ids, a repeated key none', async () => {
    const queue = new RedisDeliveryQueue({ redis: own.redis, prefix: uniquePrefix('batch-append'), logger: silent });
    const at = 1_700_000_000;
    const first = await queue.appendMany('gw-0', [{ event: inbound('m-0-a'), options: { dedupKey: 'm-0-a', dedupAt: at } }]);
    expect(first[0]).not.toBeNull();
    const { result, counts } = await counting(['evalsha', 'xadd'], () =>
      Promise.all(
        Array.from({ length: 60 }, (_, g) =>
          queue.appendMany(`gw-${g}`, [
            // gw-0's first entry was appended above: refused again, inside the same batch as everything else.
            { event: inbound(`m-${g}-a`), options: { dedupKey: `m-${g}-a`, dedupAt: at } },
            { event: inbound(`m-${g}-b`), options: { dedupKey: `m-${g}-b`, dedupAt: at } },
          ]),
        ),
      ),
    );
    // 119 entries; the first append to each of the 59 new streams is tried on an existing stream first (NOMKSTREAM).
    expect(counts).toEqual({ evalsha: 1, xadd: 119 + 59 });
    expect(result[0]![0]).toBeNull();
    for (let g = 0; g < 60; g++) {
      const items = await queue.readAfter(`gw-${g}`, null, 10);
      expect(items.map((i) => (i.event as { id: string }).id)).toEqual(g === 0 ? ['m-0-a', 'm-0-b'] : [`m-${g}-a`, `m-${g}-b`]);
      expect(items.map((i) => i.id)).toEqual(g === 0 ? [first[0], result[0]![1]] : result[g]);
    }
  });

  it('reads of 40 gateways woken together are one XREAD, each from its own pointer', async () => {
    const queue = new RedisDeliveryQueue({ redis: own.redis, prefix: uniquePrefix('batch-read'), logger: silent });
    const pointers: Array<string | null> = [];
    for (let g = 0; g < 40; g++) {
      const ids = await queue.appendMany(`gw-${g}`, [{ event: inbound(`m-${g}-1`) }, { event: inbound(`m-${g}-2`) }, { event: inbound(`m-${g}-3`) }]);
      pointers.push(g % 2 === 0 ? null : ids[0]!);
    }
    const { result, counts } = await counting(['xread', 'evalsha', 'xrange'], () => Promise.all(pointers.map((after, g) => queue.readAfter(`gw-${g}`, after, 2))));
    expect(counts).toEqual({ xread: 1, evalsha: 0, xrange: 0 });
    result.forEach((items, g) => expect(items.map((i) => (i.event as { id: string }).id)).toEqual(g % 2 === 0 ? [`m-${g}-1`, `m-${g}-2`] : [`m-${g}-2`, `m-${g}-3`]));
  });

  it('reads of one tick with different counts, a gateway read twice and empty gateways each get their own rows', async () => {
    const queue = new RedisDeliveryQueue({ redis: own.redis, prefix: uniquePrefix('batch-read-mixed'), logger: silent });
    const ids = await queue.appendMany('gw-a', [{ event: inbound('a-1') }, { event: inbound('a-2') }, { event: inbound('a-3') }]);
    await queue.appendMany('gw-b', [{ event: inbound('b-1') }]);
    const names = (items: Array<{ event: unknown }>) => items.map((i) => (i.event as { id: string }).id);
    const { result, counts } = await counting(['xread'], () =>
      Promise.all([
        queue.readAfter('gw-a', null, 2),
        queue.readAfter('gw-a', ids[0]!, 5),
        queue.readAfter('gw-b', null, 2),
        queue.readAfter('gw-none', null, 2),
        queue.readAfter('gw-a', ids[2]!, 2),
      ]),
    );
    expect(result.map(names)).toEqual([['a-1', 'a-2'], ['a-2', 'a-3'], ['b-1'], [], []]);
    // Counts 2 and 5 cannot share a call, nor can gw-a's two reads of count 2.
    expect(counts.xread).toBe(3);
  });

  it('a client with its own keyPrefix reads its gateways in one XREAD too', async () => {
    const prefixed = own.redis.duplicate({ keyPrefix: 'kp:' });
    try {
      const queue = new RedisDeliveryQueue({ redis: prefixed, prefix: uniquePrefix('batch-read-kp'), logger: silent });
      await queue.appendMany('gw-a', [{ event: inbound('a-1') }]);
      await queue.appendMany('gw-b', [{ event: inbound('b-1') }, { event: inbound('b-2') }]);
      const read = await Promise.all([queue.readAfter('gw-a', null, 5), queue.readAfter('gw-b', null, 5)]);
      expect(read.map((items) => items.map((i) => (i.event as { id: string }).id))).toEqual([['a-1'], ['b-1', 'b-2']]);
    } finally {
      prefixed.disconnect();
    }
  });

  it('trims of 30 gateways made together are one script call; each keeps its own bound and hears its own count', async () => {
    const queue = new RedisDeliveryQueue({ redis: own.redis, prefix: uniquePrefix('batch-trim'), logger: silent });
    // Gateway g holds g % 5 entries; the bound keeps 2 (or, for every third one, none at all).
    for (let g = 0; g < 30; g++) for (let e = 0; e < g % 5; e++) await queue.append(`gw-${g}`, inbound(`m-${g}-${e}`));
    const maxItems = (g: number) => (g % 3 === 0 ? 0 : 2);
    const { result, counts } = await counting(['evalsha', 'xtrim'], () =>
      Promise.all(Array.from({ length: 30 }, (_, g) => queue.trim(`gw-${g}`, { maxAgeMs: 24 * 3600_000, maxItems: maxItems(g) }))),
    );
    // One script: a count and an age bound per gateway, both XTRIMs inside it.
    expect(counts).toEqual({ evalsha: 1, xtrim: 60 });
    expect(result).toEqual(Array.from({ length: 30 }, (_, g) => Math.max(0, (g % 5) - maxItems(g))));
    for (let g = 0; g < 30; g++) {
      const kept = (await queue.readAfter(`gw-${g}`, null, 10)).map((i) => (i.event as { id: string }).id);
      const held = Array.from({ length: g % 5 }, (_, e) => `m-${g}-${e}`);
      expect(kept).toEqual(held.slice(held.length - Math.min(held.length, maxItems(g))));
    }
  });

  it("owner lookups of 90 gateways are one script call and one alive check per node; a dead node's gateways have no owner", async () => {
    const presence = new RedisPresenceMap({ redis: own.redis, prefix: uniquePrefix('batch-owner') });
    await presence.heartbeat('node-a', 60_000);
    await presence.heartbeat('node-b', 60_000);
    const claimed: Array<number | null> = [];
    for (let g = 0; g < 90; g++) {
      if (g % 10 === 9) claimed.push(null);
      else claimed.push((await presence.claim(`gw-${g}`, ['node-a', 'node-b', 'node-dead'][g % 3]!)).generation);
    }
    await presence.lookup('gw-0'); // loads the script, so the counted call finds it
    const {
      result: { result, counts },
      sent,
    } = await sending(own.redis, () => counting(['evalsha', 'exists', 'hmget'], () => Promise.all(claimed.map((_, g) => presence.lookup(`gw-${g}`)))));
    expect(counts).toEqual({ evalsha: 1, exists: 3, hmget: 90 });
    // The alive checks run inside that script: the client sends nothing else, one round trip in all.
    expect(sent.filter((name) => name !== 'info')).toEqual(['evalsha']);
    result.forEach((owner, g) => {
      if (claimed[g] === null || g % 3 === 2) expect(owner).toBeNull();
      else expect(owner).toEqual({ nodeId: ['node-a', 'node-b'][g % 3], generation: claimed[g] });
    });
  });

  it("a page's 600 routing decisions over a minute's 64 trees are 3 script calls of at most 256, each answered in order", async () => {
    const dedup = new RedisDedupStore({ redis: own.redis, prefix: uniquePrefix('batch-decide') });
    const at = 1_700_000_000;
    const ttl = 60_000;
    // Decided before: the batch must answer these with the earlier value, wherever they sit in it.
    await dedup.decideMany([0, 7, 599].map((n) => ({ key: `m-${n}`, value: 'earlier', placement: { at } })), ttl);
    const { result, counts } = await counting(['evalsha', 'hset'], () =>
      dedup.decideMany(Array.from({ length: 600 }, (_, n) => ({ key: `m-${n}`, value: `gw-${n % 9}`, placement: { at } })), ttl),
    );
    expect(counts).toEqual({ evalsha: 3, hset: 597 });
    expect(result).toEqual(Array.from({ length: 600 }, (_, n) => ([0, 7, 599].includes(n) ? 'earlier' : `gw-${n % 9}`)));
  });
});
