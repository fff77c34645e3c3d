import { describe, expect, it } from 'vitest';
import {
  MemoryAccessTokenStore,
  MemoryBindingStore,
  MemoryBusHub,
  MemoryDedupStore,
  MemoryDeliveryQueue,
  MemoryNodeBus,
  MemoryPendingBindingStore,
  MemoryPresenceMap,
  MemorySyncCoordinator,
  MemoryOutboundLedger,
  MemoryReplyRecordStore,
} from '../../src/state/memory/index.js';
import {
  accessTokenStoreContract,
  bindingStoreContract,
  dedupStoreContract,
  deliveryQueueContract,
  outboundLedgerContract,
  replyRecordStoreContract,
  nodeBusContract,
  pendingBindingStoreContract,
  presenceMapContract,
  syncCoordinatorContract,
  presenceDirectoryContract,
  bindingUnbindContract,
} from './contracts.js';

bindingStoreContract('memory', async () => new MemoryBindingStore());
pendingBindingStoreContract('memory', async () => new MemoryPendingBindingStore());
dedupStoreContract('memory', async () => new MemoryDedupStore());
syncCoordinatorContract('memory', async () => new MemorySyncCoordinator());
presenceMapContract('memory', async () => new MemoryPresenceMap());
nodeBusContract('memory', async () => {
  const hub = new MemoryBusHub();
  return { a: new MemoryNodeBus({ hub }), b: new MemoryNodeBus({ hub }) };
});
deliveryQueueContract('memory', async () => new MemoryDeliveryQueue());
presenceDirectoryContract('memory', async () => new MemoryPresenceMap());
bindingUnbindContract('memory', async () => new MemoryBindingStore());
accessTokenStoreContract('memory', async () => new MemoryAccessTokenStore());

/** Issue limits that never get in the way. */
const OPEN_LIMITS = { reuseWithinMs: 0, maxLive: 100, ratePerWindow: 1_000, rateWindowMs: 60_000 };

/** A clock the test moves by hand. */
function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('memory stores with an injected clock', () => {
  it('expire pending tokens, dedup keys and presence by the given clock, not the wall clock', async () => {
    const clock = manualClock();
    const pending = new MemoryPendingBindingStore({ now: clock.now });
    const dedup = new MemoryDedupStore({ now: clock.now });
    const presence = new MemoryPresenceMap({ now: clock.now });
    await pending.issue('t1', 'gw-1', 10 * 60_000, OPEN_LIMITS);
    expect(await dedup.claim('m1', 60_000)).toBe(true);
    await presence.heartbeat('node-a', 30_000);
    await presence.claim('gw-1', 'node-a');

    clock.advance(29_999);
    expect(await pending.issue('t1', 'gw-2', 10 * 60_000, OPEN_LIMITS)).toEqual({ outcome: 'collision' });
    expect(await dedup.claim('m1', 60_000)).toBe(false);
    expect((await presence.lookup('gw-1'))?.nodeId).toBe('node-a');

    clock.advance(1);
    expect(await presence.lookup('gw-1')).toBeNull();
    clock.advance(30_000);
    expect(await dedup.claim('m1', 60_000)).toBe(true);
    clock.advance(10 * 60_000);
    expect(await pending.consume('t1', 'event-1', 60_000)).toBeNull();
  });

  it('sweeps expired dedup keys so they can be claimed afresh after many other claims', async () => {
    const clock = manualClock();
    const dedup = new MemoryDedupStore({ now: clock.now, sweepIntervalMs: 1000 });
    for (let i = 0; i < 100; i += 1) expect(await dedup.claim(`m${i}`, 500)).toBe(true);
    clock.advance(2000);
    for (let i = 0; i < 100; i += 1) expect(await dedup.claim(`m${i}`, 500)).toBe(true);
    expect(await dedup.claim('m0', 500)).toBe(false);
  });

  it('a sync lease expires by the given clock and the next holder gets a higher fence', async () => {
    const clock = manualClock();
    const sync = new MemorySyncCoordinator({ now: clock.now });
    const first = (await sync.tryAcquire('wk1', 1000))!;
    clock.advance(999);
    expect(await sync.tryAcquire('wk1', 1000)).toBeNull();
    clock.advance(1);
    const second = (await sync.tryAcquire('wk1', 1000))!;
    expect(second.fence).toBeGreaterThan(first.fence);
    expect(await first.commitCursor('stale')).toBe(false);
  });

  it('trims the queue by age according to the given clock', async () => {
    const clock = manualClock();
    const queue = new MemoryDeliveryQueue({ now: clock.now });
    await queue.append('gw-1', { type: 'binding_resolved', externalUserId: 'wm-1', gatewayId: 'gw-1' });
    clock.advance(5000);
    const young = await queue.append('gw-1', { type: 'binding_resolved', externalUserId: 'wm-2', gatewayId: 'gw-1' });
    const items = await queue.readAfter('gw-1', null, 10);
    expect(items.map((item) => item.enqueuedAt)).toEqual([clock.now() - 5000, clock.now()]);
    expect(await queue.trim('gw-1', { maxAgeMs: 5000, maxItems: 10 })).toBe(0);
    clock.advance(1);
    expect(await queue.trim('gw-1', { maxAgeMs: 5000, maxItems: 10 })).toBe(1);
    expect((await queue.readAfter('gw-1', null, 10)).map((item) => item.id)).toEqual([young]);
  });

  it('a queued event is a copy: changing the caller’s object later changes nothing queued', async () => {
    const queue = new MemoryDeliveryQueue();
    const event = { type: 'binding_resolved' as const, externalUserId: 'wm-1', gatewayId: 'gw-1' };
    await queue.append('gw-1', event);
    event.externalUserId = 'wm-changed';
    const [item] = await queue.readAfter('gw-1', null, 10);
    expect(item?.event).toEqual({ type: 'binding_resolved', externalUserId: 'wm-1', gatewayId: 'gw-1' });
  });

  it('a bus without a shared hub reaches only itself', async () => {
    const single = new MemoryNodeBus();
    const other = new MemoryNodeBus();
    const received: string[] = [];
    const got = new Promise<void>((resolve) =>
      void single.subscribe('node-1', (message) => {
        received.push('gatewayId' in message ? message.gatewayId : message.kind);
        resolve();
      }),
    );
    expect(await other.publish('node-1', { kind: 'wake', gatewayId: 'gw-x', sentAt: 1 })).toBe(false);
    expect(await single.publish('node-1', { kind: 'wake', gatewayId: 'gw-1', sentAt: 1 })).toBe(true);
    await got;
    expect(received).toEqual(['gw-1']);
    await single.close();
    await other.close();
  });
});
outboundLedgerContract('memory', async () => new MemoryOutboundLedger());
replyRecordStoreContract('memory', async () => {
  const shared = new MemoryReplyRecordStore();
  return { a: shared, b: shared };
});
