/**
 * The background re-check of an idle node's gateways on one real Redis server: a tick re-checks its gateways side by
 * side, so their owner lookups, queue reads and retention trims go out as one command each instead of one per gateway.
 * Commands are counted by the server (`INFO commandstats`); re-checking one gateway after another fails here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import type { OwnershipSweep } from '../../src/delivery/ownership-sweep.js';
import { MemoryBusHub } from '../../src/state/memory/index.js';
import { RedisDeliveryQueue, RedisPresenceMap } from '../../src/state/redis/index.js';
import { FakeSession, closeNodes, inbound, settle, silent, startNode, until } from '../core/delivery-harness.js';
import { commandCalls, ownRedisServer } from './helpers.js';

const own = ownRedisServer();

afterEach(async () => {
  await closeNodes();
});

describe('slow re-check on one Redis server', () => {
  it("a tick's 15 gateways cost one owner lookup script, one XREAD and one trim script, and each is still re-checked", async () => {
    const prefix = uniquePrefix('sweep-trips');
    const queue = new RedisDeliveryQueue({ redis: own.redis, prefix, logger: silent });
    const presence = new RedisPresenceMap({ redis: own.redis, prefix });
    // The tick is driven by hand below: the timer's own ticks would land at unknown moments of the count.
    const node = await startNode('node-a', { queue, presence, hub: new MemoryBusHub() }, { sweepCallsPerSecond: 45, sweepTickMs: 3_600_000 });
    // gw-7 acknowledges (so writing its frame costs no ack of the node's); gw-3 stops reading (so its drain stops at
    // its first frame, having read with the others).
    const sessions = Array.from({ length: 15 }, (_, i) => new FakeSession(`gw-${i}`, i === 7 ? { delivery: 'ack' } : {}));
    sessions[3]!.mode = 'stall';
    for (const session of sessions) await node.attach(session, async () => {});
    // Appended while the node was not told (a lost wake-up): the re-check's queue read is what delivers it.
    await queue.append('gw-7', inbound('lost-wake'));
    // Over the retention bound (1,000 items in the harness): the re-check's trim drops the oldest two.
    for (let i = 0; i < 1_002; i++) await queue.append('gw-3', inbound(`old-${i}`));
    await settle();

    const sweep = (node as unknown as { sweep: OwnershipSweep }).sweep;
    const before = await commandCalls(own.redis);
    await sweep.tick(1_000);
    await until(() => sessions[7]!.frames.length === 1, 'the event whose wake-up was lost');
    const after = await commandCalls(own.redis);
    const ran = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);

    // 45 calls a second at 3 per gateway: all 15 in one tick, their calls batched by kind.
    expect({ evalsha: ran('evalsha'), xread: ran('xread'), xrange: ran('xrange') }).toEqual({ evalsha: 2, xread: 1, xrange: 0 });
    expect(ran('hmget')).toBe(15);
    expect(ran('xtrim')).toBe(30);
    expect(sessions[7]!.frames.map((f) => (f as { id?: string }).id)).toEqual(['lost-wake']);
    expect(await own.redis.xlen(`${prefix}{gw:gw-3}:queue`)).toBe(1_000);
  });
});
