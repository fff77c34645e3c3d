import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import { RedisDeliveryQueue } from '../../src/state/redis/index.js';
import { commandCalls, ownRedisServer } from './helpers.js';
import { inbound } from '../state/contracts/delivery-queue-contract.js';

const own = ownRedisServer();
const silent = pino({ level: 'silent' });

const NEVER_ISSUED = '99999999999999-0';

const calls = () => commandCalls(own.redis);

/** How many more times `command` ran between two snapshots. */
const ran = (before: Map<string, number>, after: Map<string, number>, command: string) => (after.get(command) ?? 0) - (before.get(command) ?? 0);

async function queueWith(n: number, gatewayId = 'gw-1'): Promise<{ queue: RedisDeliveryQueue; prefix: string; ids: string[] }> {
  const prefix = uniquePrefix('ack-batch');
  const queue = new RedisDeliveryQueue({ redis: own.redis, prefix, logger: silent });
  const ids = await queue.appendMany(
    gatewayId,
    Array.from({ length: n }, (_, i) => ({ event: inbound(i) })),
  );
  return { queue, prefix, ids: ids.map((id) => id!) };
}

/** Settles every promise and tells which rejected, with the error's code. */
async function outcomes(promises: Array<Promise<void>>): Promise<Array<'ok' | string>> {
  return (await Promise.allSettled(promises)).map((r) => (r.status === 'fulfilled' ? 'ok' : String((r.reason as { code?: unknown }).code)));
}

describe('RedisDeliveryQueue acks of one gateway, persisted in batches', () => {
  it('100 concurrent acks all resolve, the pointer ends at the highest, everything up to it is gone, in one write', async () => {
    const { queue, prefix, ids } = await queueWith(120);
    // The script is loaded by an earlier ack, so every write below is one EVALSHA.
    await queue.ack('gw-0', (await queue.append('gw-0', inbound(0))));
    const shuffled = ids.slice(0, 100).sort(() => Math.random() - 0.5);
    const before = await calls();
    const results = await outcomes(shuffled.map((id) => queue.ack('gw-1', id)));
    const after = await calls();

    expect(results).toEqual(shuffled.map(() => 'ok'));
    expect(await queue.lastAcked('gw-1')).toBe(ids[99]);
    expect(await own.redis.xlen(`${prefix}{gw:gw-1}:queue`)).toBe(20);
    expect((await queue.readAfter('gw-1', await queue.lastAcked('gw-1'), 50)).map((i) => i.id)).toEqual(ids.slice(100));
    // All made in one turn of the event loop: one write of the highest id.
    expect(ran(before, after, 'evalsha')).toBe(1);

    // The gateway's lane is gone once idle: a later ack is written, not left waiting behind a finished write.
    await queue.ack('gw-1', ids[110]!);
    expect(await queue.lastAcked('gw-1')).toBe(ids[110]);
    expect(await own.redis.xlen(`${prefix}{gw:gw-1}:queue`)).toBe(9);
  });

  it('a never-issued id among concurrent acks rejects alone; the others resolve and move the pointer', async () => {
    const { queue, prefix, ids } = await queueWith(10);
    const acks = [queue.ack('gw-1', ids[0]!), ...ids.slice(1, 6).map((id) => queue.ack('gw-1', id)), queue.ack('gw-1', NEVER_ISSUED), queue.ack('gw-1', ids[7]!)];
    expect(await outcomes(acks)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'FRAME_INVALID', 'ok']);
    expect(await queue.lastAcked('gw-1')).toBe(ids[7]);
    expect(await own.redis.xlen(`${prefix}{gw:gw-1}:queue`)).toBe(2);
    // A never-issued id alone, and the same id twice, reject as before.
    expect(await outcomes([queue.ack('gw-1', NEVER_ISSUED), queue.ack('gw-1', ids[8]!), queue.ack('gw-1', NEVER_ISSUED)])).toEqual([
      'FRAME_INVALID',
      'ok',
      'FRAME_INVALID',
    ]);
    expect(await queue.lastAcked('gw-1')).toBe(ids[8]);
  });

  it('acks of different gateways do not wait for or fail each other', async () => {
    const prefix = uniquePrefix('ack-apart');
    const queue = new RedisDeliveryQueue({ redis: own.redis, prefix, logger: silent });
    const a = await queue.appendMany('gw-a', [{ event: inbound(1) }, { event: inbound(2) }]);
    const b = await queue.appendMany('gw-b', [{ event: inbound(3) }, { event: inbound(4) }]);
    const results = await outcomes([queue.ack('gw-a', a[0]!), queue.ack('gw-b', b[0]!), queue.ack('gw-b', NEVER_ISSUED), queue.ack('gw-a', a[1]!)]);
    expect(results).toEqual(['ok', 'ok', 'FRAME_INVALID', 'ok']);
    expect(await queue.lastAcked('gw-a')).toBe(a[1]);
    expect(await queue.lastAcked('gw-b')).toBe(b[0]);
    expect(await own.redis.xlen(`${prefix}{gw:gw-a}:queue`)).toBe(0);
    expect(await own.redis.xlen(`${prefix}{gw:gw-b}:queue`)).toBe(1);
  });

  it('on one server, acks of 50 gateways arriving together are written by one script call, each pointer at its own id', async () => {
    const prefix = uniquePrefix('ack-many');
    const queue = new RedisDeliveryQueue({ redis: own.redis, prefix, logger: silent });
    const gateways = Array.from({ length: 50 }, (_, g) => `gw-${g}`);
    const ids = await Promise.all(gateways.map((g, n) => queue.appendMany(g, [{ event: inbound(n) }, { event: inbound(n) }, { event: inbound(n) }])));
    await queue.ack('gw-warm', await queue.append('gw-warm', inbound(0)));
    const before = await calls();
    // Each gateway acks its second entry; gw-7 also an id never issued, which fails that caller alone.
    const results = await outcomes([...gateways.map((g, n) => queue.ack(g, ids[n]![1]!)), queue.ack('gw-7', NEVER_ISSUED)]);
    const after = await calls();
    expect(results).toEqual([...gateways.map(() => 'ok'), 'FRAME_INVALID']);
    for (const [n, g] of gateways.entries()) {
      expect(await queue.lastAcked(g)).toBe(ids[n]![1]);
      expect(await own.redis.xlen(`${prefix}{gw:${g}}:queue`)).toBe(1);
    }
    // The 50 gateways (gw-7 with its two) together; gw-7's two once more, one each.
    expect(ran(before, after, 'evalsha')).toBe(3);
  });

  it('on one server, acks read by separate callbacks of one turn of the event loop, as from many sockets, share one write', async () => {
    const prefix = uniquePrefix('ack-turn');
    const queue = new RedisDeliveryQueue({ redis: own.redis, prefix, logger: silent });
    const gateways = Array.from({ length: 20 }, (_, g) => `gw-${g}`);
    const ids = await Promise.all(gateways.map((g, n) => queue.appendMany(g, [{ event: inbound(n) }])));
    await queue.ack('gw-warm', await queue.append('gw-warm', inbound(0)));
    const before = await calls();
    // Immediates queued together run in one check phase, each its own callback, as socket reads run in one poll phase
    // (timers would not do: two made a millisecond apart fall due in different turns).
    const acks: Array<Promise<void>> = [];
    await new Promise<void>((resolve) => {
      gateways.forEach((g, n) => setImmediate(() => acks.push(queue.ack(g, ids[n]![0]!))));
      setImmediate(resolve);
    });
    expect(await outcomes(acks)).toEqual(gateways.map(() => 'ok'));
    const after = await calls();
    expect(ran(before, after, 'evalsha')).toBe(1);
    for (const [n, g] of gateways.entries()) expect(await queue.lastAcked(g)).toBe(ids[n]![0]);
  });

  it('a gateway whose keys cannot be written fails its own acks only, also when written together with others', async () => {
    const prefix = uniquePrefix('ack-broken');
    const queue = new RedisDeliveryQueue({ redis: own.redis, prefix, logger: silent });
    const a = await queue.appendMany('gw-a', [{ event: inbound(1) }]);
    const b = await queue.appendMany('gw-b', [{ event: inbound(2) }]);
    const c = await queue.appendMany('gw-c', [{ event: inbound(3) }]);
    // Not a string: GET on the pointer is refused.
    await own.redis.hset(`${prefix}{gw:gw-b}:acked`, 'x', '1');
    const results = await Promise.allSettled([queue.ack('gw-a', a[0]!), queue.ack('gw-b', b[0]!), queue.ack('gw-c', c[0]!)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await queue.lastAcked('gw-c')).toBe(c[0]);
    expect(await own.redis.xlen(`${prefix}{gw:gw-c}:queue`)).toBe(0);
  });

  it('an ack of a delivered entry still in the stream reads no XINFO STREAM; one trimmed away is still accepted', async () => {
    const { queue, prefix, ids } = await queueWith(6);
    const before = await calls();
    await queue.ack('gw-1', ids[1]!);
    await queue.ack('gw-1', ids[0]!);
    const after = await calls();
    expect(ran(before, after, 'xinfo|stream')).toBe(0);
    expect(await queue.lastAcked('gw-1')).toBe(ids[1]);

    // Retention dropped entries before they were acked: the id was issued all the same, so the pointer moves.
    await queue.trim('gw-1', { maxAgeMs: 3600_000, maxItems: 1 });
    await queue.ack('gw-1', ids[3]!);
    expect(await queue.lastAcked('gw-1')).toBe(ids[3]);
    expect((await queue.readAfter('gw-1', ids[3]!, 10)).map((i) => i.id)).toEqual([ids[5]]);
    await expect(queue.ack('gw-1', NEVER_ISSUED)).rejects.toMatchObject({ code: 'FRAME_INVALID' });
    expect(await own.redis.xlen(`${prefix}{gw:gw-1}:queue`)).toBe(1);
  });
});

describe('RedisDeliveryQueue acks of one item right after the pointer', () => {
  it('cost one pointer swap and one XDEL each, and leave nothing acknowledged in the stream', async () => {
    const { queue, prefix, ids } = await queueWith(60);
    const stream = `${prefix}{gw:gw-1}:queue`;
    // The first item has nothing read before it: its ack trims as any other.
    await queue.ack('gw-1', ids[0]!);
    const before = await calls();
    for (let i = 1; i < 50; i++) await queue.ack('gw-1', ids[i]!, ids[i - 1]);
    const after = await calls();
    expect(await queue.lastAcked('gw-1')).toBe(ids[49]);
    expect(await own.redis.xlen(stream)).toBe(10);
    expect((await own.redis.xrange(stream, '-', '+')).map(([id]) => id)).toEqual(ids.slice(50));
    expect(ran(before, after, 'evalsha')).toBe(49);
    expect(ran(before, after, 'xdel')).toBe(49);
    expect(ran(before, after, 'set')).toBe(49);
    expect(ran(before, after, 'xtrim')).toBe(0);
    expect(ran(before, after, 'get')).toBe(0);
  });

  it('still drop every item up to the id when the pointer is not at the id read before it', async () => {
    const { queue, prefix, ids } = await queueWith(8);
    const stream = `${prefix}{gw:gw-1}:queue`;
    // No pointer yet: the items before ids[3] go too.
    await queue.ack('gw-1', ids[3]!, ids[2]);
    expect((await own.redis.xrange(stream, '-', '+')).map(([id]) => id)).toEqual(ids.slice(4));
    // The pointer at ids[3], an ack that claims ids[5] came right after ids[4] (an ack of ids[4] was lost, or another
    // node read them): ids[4] goes as well.
    await queue.ack('gw-1', ids[5]!, ids[4]);
    expect((await own.redis.xrange(stream, '-', '+')).map(([id]) => id)).toEqual(ids.slice(6));
    expect(await queue.lastAcked('gw-1')).toBe(ids[5]);
  });

  it('leave the pointer as it was when the ack does not move it or names an id never issued', async () => {
    const { queue, prefix, ids } = await queueWith(4);
    const pointer = `${prefix}{gw:gw-1}:acked`;
    await expect(queue.ack('gw-1', NEVER_ISSUED, ids[3])).rejects.toMatchObject({ code: 'FRAME_INVALID' });
    expect(await own.redis.exists(pointer)).toBe(0);
    await queue.ack('gw-1', ids[2]!, ids[1]);
    await queue.ack('gw-1', ids[1]!, ids[0]);
    expect(await queue.lastAcked('gw-1')).toBe(ids[2]);
    await expect(queue.ack('gw-1', NEVER_ISSUED, ids[2])).rejects.toMatchObject({ code: 'FRAME_INVALID' });
    expect(await queue.lastAcked('gw-1')).toBe(ids[2]);
    expect(await own.redis.pttl(pointer)).toBeGreaterThan(0);
    expect((await queue.readAfter('gw-1', ids[2]!, 10)).map((i) => i.id)).toEqual([ids[3]]);
  });
});
