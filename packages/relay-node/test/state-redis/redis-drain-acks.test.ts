/**
 * The delivery engine on a real Redis queue: whatever mix of single, cumulative and skipped acknowledgements a gateway
 * gives, every acknowledged item leaves the stream. An ack of one item right after the pointer drops that item alone
 * (the drain names the id it read before it), so a wrong name from the drain would leave items behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import { MemoryBusHub, MemoryPresenceMap } from '../../src/state/memory/index.js';
import { RedisDeliveryQueue } from '../../src/state/redis/index.js';
import { FakeSession, closeNodes, inbound, sendFailed, silent, startNode, until } from '../core/delivery-harness.js';
import { commandCalls, ownRedisServer } from './helpers.js';

const own = ownRedisServer();

afterEach(async () => {
  await closeNodes();
});

async function nodeOnRedis() {
  const prefix = uniquePrefix('drain-acks');
  const queue = new RedisDeliveryQueue({ redis: own.redis, prefix, logger: silent });
  const node = await startNode('node-a', { queue, presence: new MemoryPresenceMap(), hub: new MemoryBusHub() });
  return { node, queue, stream: (gatewayId: string) => `${prefix}{gw:${gatewayId}}:queue` };
}

describe('acknowledgements through the delivery engine on Redis', () => {
  it('an ack-mode gateway confirming one by one, several at once and around skipped events leaves nothing acknowledged queued', async () => {
    const { node, queue, stream } = await nodeOnRedis();
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    // send_failed is skipped for a gateway without the feature: acknowledged with the frame before it.
    const events = [inbound('m1'), inbound('m2'), sendFailed('f1'), inbound('m3'), inbound('m4'), inbound('m5'), sendFailed('f2'), sendFailed('f3'), inbound('m6')];
    for (const event of events) await node.enqueue('gw-1', event);
    await until(() => session.frames.length === 6, 'six frames');
    const ids = session.frames.map((f) => f.deliveryId!);
    // One by one (m1, m2 with the skipped f1 behind it), then m3..m5 at once, then m6 (after two skipped).
    for (const at of [0, 1, 4, 5]) await node.acknowledge(session, ids[at]!);
    await until(async () => (await own.redis.xlen(stream('gw-1'))) === 0, 'an empty stream');
    expect(await queue.lastAcked('gw-1')).toBe(ids[5]);
  });

  it('an ack-mode gateway confirming each frame as it comes costs no trim per acknowledgement', async () => {
    const { node, queue, stream } = await nodeOnRedis();
    const session = new FakeSession('gw-2', { delivery: 'ack' });
    await node.attach(session, async () => {});
    await node.enqueue('gw-2', inbound('m0'));
    await until(() => session.frames.length === 1, 'm0');
    await node.acknowledge(session, session.frames[0]!.deliveryId!);
    const before = await commandCalls(own.redis);
    for (let i = 1; i <= 20; i++) {
      await node.enqueue('gw-2', inbound(`m${i}`));
      await until(() => session.frames.length === i + 1, `m${i}`);
      await node.acknowledge(session, session.frames[i]!.deliveryId!);
    }
    const after = await commandCalls(own.redis);
    expect((after.get('xdel') ?? 0) - (before.get('xdel') ?? 0)).toBe(20);
    expect((after.get('xtrim') ?? 0) - (before.get('xtrim') ?? 0)).toBe(0);
    expect(await own.redis.xlen(stream('gw-2'))).toBe(0);
    expect(await queue.lastAcked('gw-2')).toBe(session.frames[20]!.deliveryId);
  });

  it('a legacy gateway written one event and many at a time leaves nothing delivered queued', async () => {
    const { node, queue, stream } = await nodeOnRedis();
    const session = new FakeSession('gw-3');
    await node.attach(session, async () => {});
    await node.enqueue('gw-3', inbound('m1'));
    await until(() => session.frames.length === 1, 'm1');
    await until(async () => (await own.redis.xlen(stream('gw-3'))) === 0, 'm1 acknowledged');
    // m2 alone (its write held while the rest are queued), then m3..m12 as one batch whose ack covers them all.
    session.mode = 'stall';
    await node.enqueue('gw-3', inbound('m2'));
    await until(() => session.stalledWrites === 1, 'm2 being written');
    for (let i = 3; i <= 12; i++) await node.enqueue('gw-3', inbound(`m${i}`));
    session.mode = 'ok';
    session.release();
    await until(() => session.frames.length === 12, 'all frames');
    await until(async () => (await own.redis.xlen(stream('gw-3'))) === 0, 'an empty stream');
    expect(await queue.lastAcked('gw-3')).not.toBeNull();
  });
});
