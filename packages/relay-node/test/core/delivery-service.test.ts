import { afterEach, describe, expect, it, vi } from 'vitest';
import { ERROR_CATALOG } from '../../src/errors/error-catalog.js';
import { MemoryNodeBus, MemoryPresenceMap } from '../../src/state/memory/index.js';
import type { PresenceMap } from '../../src/state/presence-map.js';
import { FakeSession, closeNodes, inbound, sendFailed, settle, sharedStores, startNode, until } from './delivery-harness.js';

const SUPERSEDED = ERROR_CATALOG.SUPERSEDED.closeCode;

afterEach(async () => {
  vi.useRealTimers();
  await closeNodes();
});

describe('DeliveryService: legacy gateways (no delivery:"ack")', () => {
  it('acknowledges an event only after its socket write completed; a stalled write leaves it queued', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1');
    session.mode = 'stall';
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', inbound('m1'));
    await until(() => session.stalledWrites === 1, 'the write to start');
    await settle();
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();
    session.release();
    await until(async () => (await stores.queue.lastAcked('gw-1')) !== null, 'the ack after the write');
    expect(session.inboundIds()).toEqual(['m1']);
  });

  it('a failed write leaves the event queued, and the next socket receives it', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const first = new FakeSession('gw-1');
    first.mode = 'reject';
    await node.attach(first, async () => {});
    await node.enqueue('gw-1', inbound('m1'));
    await until(() => !first.isOpen, 'the failed write');
    await node.detach(first);
    await settle();
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();

    const second = new FakeSession('gw-1');
    await node.attach(second, async () => {});
    await until(() => second.frames.length === 1, 'the redelivery');
    expect(second.inboundIds()).toEqual(['m1']);
  });

  it('writes queued events in order and acknowledges each as written', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    for (const id of ['m1', 'm2', 'm3']) await node.enqueue('gw-1', inbound(id));
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 3, 'three frames');
    expect(session.inboundIds()).toEqual(['m1', 'm2', 'm3']);
    await until(async () => (await stores.queue.readAfter('gw-1', await stores.queue.lastAcked('gw-1'), 10)).length === 0, 'all acked');
    // Legacy frames carry no delivery id.
    expect(session.frames.every((f) => f.deliveryId === undefined)).toBe(true);
  });
});

describe('DeliveryService: ack-mode gateways', () => {
  it('ignores a delivery_ack for an id this socket was never sent: the ack pointer stays before unsent events', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { ackWindow: 2 });
    const ids: string[] = [];
    for (const id of ['m1', 'm2', 'm3', 'm4']) ids.push((await stores.queue.append('gw-1', inbound(id))) as string);
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 2, 'the first window');
    await settle();
    expect(session.frames.map((f) => f.deliveryId)).toEqual([ids[0], ids[1]]);

    // m4 is queued but was never sent (beyond the window); an unknown id is not trusted either.
    await node.acknowledge(session, ids[3]!);
    await node.acknowledge(session, '999999');
    await node.acknowledge(session, 'not-an-id');
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();

    await node.acknowledge(session, ids[0]!);
    expect(await stores.queue.lastAcked('gw-1')).toBe(ids[0]);
    await until(() => session.frames.length === 3, 'the window to move on');
    expect(session.inboundIds()).toEqual(['m1', 'm2', 'm3']);
  });

  it("an ack from another socket of the same gateway (an old one) is ignored", async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const id = (await stores.queue.append('gw-1', inbound('m1'))) as string;
    const old = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(old, async () => {});
    await until(() => old.frames.length === 1, 'm1 to old');
    const fresh = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(fresh, async () => {});
    expect(old.closed?.code).toBe(SUPERSEDED);
    await node.acknowledge(old, id);
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();
    await until(() => fresh.frames.length === 1, 'm1 again to the new socket');
    await node.acknowledge(fresh, id);
    expect(await stores.queue.lastAcked('gw-1')).toBe(id);
  });

  it('skipped items are acknowledged with the sent item before them, never on their own', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const s0 = (await stores.queue.append('gw-1', sendFailed('r0'))) as string;
    const m1 = (await stores.queue.append('gw-1', inbound('m1'))) as string;
    const s1 = (await stores.queue.append('gw-1', sendFailed('r1'))) as string;
    const m2 = (await stores.queue.append('gw-1', inbound('m2'))) as string;
    // Without the send_failed feature, send_failed events are skipped.
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 2, 'two inbound frames');
    await settle();
    expect(session.frames.map((f) => f.deliveryId)).toEqual([m1, m2]);
    // A skipped item with nothing unconfirmed before it is acknowledged at once.
    expect(await stores.queue.lastAcked('gw-1')).toBe(s0);
    // The skipped id itself is no acknowledgement the gateway could give.
    await node.acknowledge(session, s1);
    expect(await stores.queue.lastAcked('gw-1')).toBe(s0);
    // Acking m1 covers the skipped s1 right behind it, but not m2.
    await node.acknowledge(session, m1);
    expect(await stores.queue.lastAcked('gw-1')).toBe(s1);
    await node.acknowledge(session, m2);
    expect(await stores.queue.lastAcked('gw-1')).toBe(m2);
  });

  it('a gateway that asked for send_failed gets it with its own delivery id', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const s0 = (await stores.queue.append('gw-1', sendFailed('r0'))) as string;
    const session = new FakeSession('gw-1', { delivery: 'ack', features: ['send_failed'] });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 1, 'the send_failed frame');
    expect(session.frames[0]).toMatchObject({ type: 'send_failed', id: 'r0', deliveryId: s0 });
    await settle();
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();
  });

  it('resumes after resume_after when it names a waiting event, else after the last acknowledged', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const m1 = (await stores.queue.append('gw-1', inbound('m1'))) as string;
    await stores.queue.append('gw-1', inbound('m2'));
    const resumed = new FakeSession('gw-1', { delivery: 'ack', resumeAfter: m1 });
    await node.attach(resumed, async () => {});
    await until(() => resumed.frames.length === 1, 'm2');
    await settle();
    expect(resumed.inboundIds()).toEqual(['m2']);
    await node.detach(resumed);

    const bogus = new FakeSession('gw-1', { delivery: 'ack', resumeAfter: '424242' });
    await node.attach(bogus, async () => {});
    await until(() => bogus.frames.length === 2, 'both from the start');
    expect(bogus.inboundIds()).toEqual(['m1', 'm2']);
  });
});

describe('DeliveryService: a re-pulled page', () => {
  it('the same msgid enqueued twice (dedup key) is appended and delivered once', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    expect(await node.enqueue('gw-1', inbound('m1'), { dedupKey: 'm1' })).toBe(true);
    expect(await node.enqueue('gw-1', inbound('m2'), { dedupKey: 'm2' })).toBe(true);
    // The page comes round again after a failed cursor commit.
    expect(await node.enqueue('gw-1', inbound('m1'), { dedupKey: 'm1' })).toBe(false);
    expect(await node.enqueue('gw-1', inbound('m2'), { dedupKey: 'm2' })).toBe(false);
    await until(() => session.frames.length >= 2, 'two frames');
    await settle();
    expect(session.inboundIds()).toEqual(['m1', 'm2']);
    expect(await stores.queue.readAfter('gw-1', null, 10)).toHaveLength(0);
  });
});

describe('DeliveryService: ownership across sockets and nodes', () => {
  it('a stale superseded message (lower generation) does not close the newer socket; a newer one does', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    await stores.presence.claim('gw-1', 'node-x');
    await stores.presence.claim('gw-1', 'node-x');
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    const mine = (await stores.presence.lookup('gw-1'))!.generation;
    expect(mine).toBe(3);
    const other = new MemoryNodeBus({ hub: stores.hub });
    await other.publish('node-a', { kind: 'superseded', gatewayId: 'gw-1', generation: mine - 1 });
    await other.publish('node-a', { kind: 'superseded', gatewayId: 'gw-1', generation: mine });
    await settle();
    expect(session.isOpen).toBe(true);
    expect(node.localGatewayIds()).toEqual(['gw-1']);

    await other.publish('node-a', { kind: 'superseded', gatewayId: 'gw-1', generation: mine + 1 });
    await until(() => !session.isOpen, 'the close');
    expect(session.closed?.code).toBe(SUPERSEDED);
    expect(node.localCount()).toBe(0);
  });

  it('a gateway that reconnects to another node closes its socket on the first node; events follow it', async () => {
    const stores = sharedStores();
    const a = await startNode('node-a', stores);
    const b = await startNode('node-b', stores);
    await stores.presence.heartbeat('node-a', 3_600_000);
    const onA = new FakeSession('gw-1');
    await a.attach(onA, async () => {});
    const onB = new FakeSession('gw-1');
    await b.attach(onB, async () => {});
    await until(() => !onA.isOpen, 'the old socket to close');
    expect(onA.closed?.code).toBe(SUPERSEDED);
    // The old socket detaching late must not release the new owner's claim.
    await a.detach(onA);
    expect((await stores.presence.lookup('gw-1'))?.nodeId).toBe('node-b');
    await a.enqueue('gw-1', inbound('m1'));
    await until(() => onB.frames.length === 1, 'm1 on node-b');
    expect(onA.frames).toHaveLength(0);
  });

  it('two sockets of one gateway attaching at once: the newer claim wins even if the older finishes attaching last', async () => {
    const stores = sharedStores();
    // The first claim's answer is held back until the second socket is fully attached.
    let releaseFirst!: () => void;
    const held = new Promise<void>((r) => (releaseFirst = r));
    let claims = 0;
    const presence: PresenceMap = Object.create(stores.presence) as PresenceMap;
    presence.claim = async (gw, node) => {
      const result = await stores.presence.claim(gw, node);
      if (++claims === 1) await held;
      return result;
    };
    const node = await startNode('node-a', { ...stores, presence });
    const older = new FakeSession('gw-1');
    const newer = new FakeSession('gw-1');
    const olderAttached = node.attach(older, async () => {});
    await until(() => claims === 1, 'the first claim');
    await node.attach(newer, async () => {});
    releaseFirst();
    await olderAttached;
    expect(older.closed?.code).toBe(SUPERSEDED);
    expect(newer.isOpen).toBe(true);
    await node.enqueue('gw-1', inbound('m1'));
    await until(() => newer.frames.length === 1, 'm1 on the newer socket');
    expect(older.frames).toHaveLength(0);
    // The loser cleans up after itself without touching the winner's claim.
    await node.detach(older);
    expect(await stores.presence.lookup('gw-1')).toEqual({ nodeId: 'node-a', generation: 2 });
  });

  it('a second socket on the same node supersedes the first at once', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const first = new FakeSession('gw-1');
    await node.attach(first, async () => {});
    const second = new FakeSession('gw-1');
    await node.attach(second, async () => {});
    expect(first.closed?.code).toBe(SUPERSEDED);
    expect(second.isOpen).toBe(true);
    expect(node.localCount()).toBe(1);
  });

  it('the binding replay runs before queued events, and a replayed binding_resolved is not sent twice', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    await stores.queue.append('gw-1', { type: 'binding_resolved', externalUserId: 'u1', gatewayId: 'gw-1' });
    await stores.queue.append('gw-1', inbound('m1'));
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {
      await session.send({ type: 'binding_resolved', externalUserId: 'u1', gatewayId: 'gw-1' });
      return ['u1'];
    });
    await until(() => session.frames.length === 2, 'the replay and m1');
    await settle();
    expect(session.frames.map((f) => f.type)).toEqual(['binding_resolved', 'inbound']);
  });

  it('re-asserts ownership after the presence store lost it (Redis came back empty), so events reach the gateway again', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    let backing = new MemoryPresenceMap();
    const forgetful: PresenceMap = {
      claim: (g, n) => backing.claim(g, n),
      release: (g, n, gen) => backing.release(g, n, gen),
      lookup: (g) => backing.lookup(g),
      heartbeat: (n, ttl) => backing.heartbeat(n, ttl),
      countOwnedBy: (n) => backing.countOwnedBy(n),
      liveNodes: () => backing.liveNodes(),
      ownedBy: (n) => backing.ownedBy(n),
      describe: (g, gen, d) => backing.describe(g, gen, d),
      details: (g) => backing.details(g),
      close: () => backing.close(),
    };
    const a = await startNode('node-a', { ...stores, presence: forgetful }, { heartbeatMs: 1_000, sweepCallsPerSecond: 0 });
    const b = await startNode('node-b', { ...stores, presence: forgetful }, { heartbeatMs: 3_600_000, sweepCallsPerSecond: 0 });
    const session = new FakeSession('gw-1');
    await a.attach(session, async () => {});

    backing = new MemoryPresenceMap();
    expect(await forgetful.lookup('gw-1')).toBeNull();
    await vi.advanceTimersByTimeAsync(1_000);
    await until(async () => (await forgetful.lookup('gw-1'))?.nodeId === 'node-a', 'the re-claim');
    expect(session.isOpen).toBe(true);

    await b.enqueue('gw-1', inbound('m1'));
    await until(() => session.frames.length === 1, 'm1 routed to node-a');
  });

  it('a sweep closes a socket whose newer connection elsewhere was missed (lost superseded signal)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    const a = await startNode('node-a', stores, { sweepCallsPerSecond: 3, sweepTickMs: 1_000 });
    const session = new FakeSession('gw-1');
    await a.attach(session, async () => {});
    // node-b claimed without a bus message reaching node-a.
    await stores.presence.heartbeat('node-b', 3_600_000);
    await stores.presence.claim('gw-1', 'node-b');
    await vi.advanceTimersByTimeAsync(1_000);
    await until(() => !session.isOpen, 'the sweep to close it');
    expect(session.closed?.code).toBe(SUPERSEDED);
  });
});
