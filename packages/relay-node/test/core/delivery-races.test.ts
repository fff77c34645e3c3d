/**
 * The delivery engine's races, in process: memory stores shared by in-process "nodes", the memory bus, scriptable
 * sockets and fake timers, so each interleaving is set up exactly and runs in milliseconds.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ERROR_CATALOG } from '../../src/errors/error-catalog.js';
import { MemoryNodeBus, MemoryPresenceMap } from '../../src/state/memory/index.js';
import type { NodeBus } from '../../src/state/node-bus.js';
import { countingPresence, countingQueue } from './delivery-counting.js';
import { FakeSession, closeNodes, inbound, sendFailed, settle, sharedStores, startNode, until } from './delivery-harness.js';

const SUPERSEDED = ERROR_CATALOG.SUPERSEDED.closeCode;

afterEach(async () => {
  vi.useRealTimers();
  await closeNodes();
});

describe('delivery races: attach and supersede', () => {
  it('a superseded signal from an older claim, arriving after a newer socket attached here, leaves the newer socket open', async () => {
    const stores = sharedStores();
    const a = await startNode('node-a', stores);
    const b = await startNode('node-b', stores);
    await stores.presence.heartbeat('node-a', 3_600_000);
    await stores.presence.heartbeat('node-b', 3_600_000);
    const onA = new FakeSession('gw-1');
    await a.attach(onA, async () => {});
    const onB = new FakeSession('gw-1');
    await b.attach(onB, async () => {});
    // The gateway comes back to node-a: its new claim (generation 3) supersedes node-b's (generation 2).
    const again = new FakeSession('gw-1');
    await a.attach(again, async () => {});
    // node-b's superseded for generation 2 was delayed on the bus and only now reaches node-a.
    const late = new MemoryNodeBus({ hub: stores.hub });
    await late.publish('node-a', { kind: 'superseded', gatewayId: 'gw-1', generation: 2 });
    await settle();
    expect(again.isOpen).toBe(true);
    expect(a.localGatewayIds()).toEqual(['gw-1']);
    await until(() => !onB.isOpen, 'node-b to close its socket');
    await b.enqueue('gw-1', inbound('m1'));
    await until(() => again.frames.length === 1, 'm1 on the newest socket');
  });
});

describe('delivery races: acknowledgements', () => {
  it('an ack naming a skipped item, or one behind a skipped item never sent, confirms nothing beyond what was sent', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const m1 = (await stores.queue.append('gw-1', inbound('m1'))) as string;
    const s1 = (await stores.queue.append('gw-1', sendFailed('r1'))) as string;
    const s2 = (await stores.queue.append('gw-1', sendFailed('r2'))) as string;
    const m2 = (await stores.queue.append('gw-1', inbound('m2'))) as string;
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 2, 'm1 and m2');
    await settle();
    await node.acknowledge(session, s2);
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();
    // m1 covers both skipped items right behind it, and stops before m2, which is not confirmed.
    await node.acknowledge(session, m1);
    expect(await stores.queue.lastAcked('gw-1')).toBe(s2);
    expect(s1 < s2).toBe(true);
    await node.acknowledge(session, m2);
    expect(await stores.queue.lastAcked('gw-1')).toBe(m2);
  });

  it('a delivery_ack for an id that is queued but was never sent to this socket is refused', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { ackWindow: 1 });
    const m1 = (await stores.queue.append('gw-1', inbound('m1'))) as string;
    const m2 = (await stores.queue.append('gw-1', inbound('m2'))) as string;
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 1, 'm1');
    await settle();
    // m2 waits behind the full window: acknowledging it would drop it unseen.
    await node.acknowledge(session, m2);
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();
    expect(session.inboundIds()).toEqual(['m1']);
    await node.acknowledge(session, m1);
    await until(() => session.frames.length === 2, 'm2 once m1 is confirmed');
    expect(await stores.queue.lastAcked('gw-1')).toBe(m1);
  });

  it('legacy: an event whose socket write rejects is not acknowledged, even mid-batch; the next socket gets it', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const ids: string[] = [];
    for (const id of ['m1', 'm2', 'm3']) ids.push((await stores.queue.append('gw-1', inbound(id))) as string);
    const first = new FakeSession('gw-1');
    // m1 is written, m2's write rejects (the socket closes), m3 is never tried.
    const send = first.send.bind(first);
    first.send = async (event) => {
      if (first.frames.length === 1) first.mode = 'reject';
      return send(event);
    };
    await node.attach(first, async () => {});
    await until(() => !first.isOpen, 'the failed write');
    await node.detach(first);
    await settle();
    expect(first.inboundIds()).toEqual(['m1']);
    expect(await stores.queue.lastAcked('gw-1')).toBe(ids[0]);

    const second = new FakeSession('gw-1');
    await node.attach(second, async () => {});
    await until(() => second.frames.length === 2, 'm2 and m3');
    expect(second.inboundIds()).toEqual(['m2', 'm3']);
  });

  it('legacy: nothing of a batch is acknowledged while its first write is still in progress', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    for (const id of ['m1', 'm2']) await stores.queue.append('gw-1', inbound(id));
    const session = new FakeSession('gw-1');
    session.mode = 'stall';
    await node.attach(session, async () => {});
    await until(() => session.stalledWrites === 1, 'the first write to start');
    await settle();
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();
    session.mode = 'ok';
    session.release();
    await until(() => session.frames.length === 2, 'both written');
    await until(async () => (await stores.queue.readAfter('gw-1', await stores.queue.lastAcked('gw-1'), 10)).length === 0, 'both acked');
  });
});

describe('delivery races: redeliver inside the ack window', () => {
  it('rewinds to an unconfirmed id keeping what came before it in flight, and refuses ids that are not waiting', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const ids: string[] = [];
    for (const id of ['m1', 'm2', 'm3']) ids.push((await stores.queue.append('gw-1', inbound(id))) as string);
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 3, 'the three events');
    await settle();
    expect(await node.redeliver('gw-1', '999999')).toEqual({ result: 'not_waiting' });
    expect(await node.redeliver('gw-1', ids[1]!)).toEqual({ result: 'scheduled', after: ids[1] });
    await until(() => session.frames.length === 4, 'm3 again');
    expect(session.inboundIds()).toEqual(['m1', 'm2', 'm3', 'm3']);
    // m1 and m2 stayed in flight across the rewind: confirming m1 still counts.
    await node.acknowledge(session, ids[0]!);
    expect(await stores.queue.lastAcked('gw-1')).toBe(ids[0]);
    await node.acknowledge(session, ids[2]!);
    expect(await stores.queue.lastAcked('gw-1')).toBe(ids[2]);
    // Acknowledged ids are no longer waiting, except the last one, which is where a redeliver starts by default.
    expect(await node.redeliver('gw-1', ids[0]!)).toEqual({ result: 'not_waiting' });
    expect(await node.redeliver('gw-1', null)).toEqual({ result: 'scheduled', after: ids[2] });
  });
});

describe('delivery races: a re-pulled page', () => {
  it("a page pulled again because its first wake-up failed wakes the owner, though its events are duplicates", async () => {
    const stores = sharedStores();
    const owner = await startNode('node-b', stores);
    let failNext = true;
    const realBus = new MemoryNodeBus({ hub: stores.hub });
    const flakyBus: NodeBus = {
      publish: async (nodeId, message) => {
        if (message.kind === 'wake' && failNext) {
          failNext = false;
          throw new Error('redis went away');
        }
        return realBus.publish(nodeId, message);
      },
      subscribe: (nodeId, handler) => realBus.subscribe(nodeId, handler),
      isLive: () => realBus.isLive(),
      close: () => realBus.close(),
    };
    const puller = await startNode('node-a', stores, { bus: flakyBus });
    const session = new FakeSession('gw-1');
    await owner.attach(session, async () => {});
    await settle();
    await expect(puller.enqueue('gw-1', inbound('m1'), { dedupKey: 'm1' })).rejects.toThrow('redis went away');
    await settle();
    expect(session.frames).toHaveLength(0);
    // The cursor did not move, so the page comes round again: the event is a duplicate and still gets its wake-up.
    expect(await puller.enqueue('gw-1', inbound('m1'), { dedupKey: 'm1' })).toBe(false);
    await until(() => session.frames.length === 1, 'm1 on the owner');
    await settle();
    expect(session.inboundIds()).toEqual(['m1']);
  });
});

describe('delivery races: the store lost everything', () => {
  it('after Redis came back empty, the next heartbeat claims every local gateway again, and events route to it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    let backing = new MemoryPresenceMap();
    const { presence } = countingPresence(() => backing);
    const a = await startNode('node-a', { ...stores, presence }, { heartbeatMs: 1_000 });
    const b = await startNode('node-b', { ...stores, presence });
    const sessions = ['gw-1', 'gw-2', 'gw-3'].map((id) => new FakeSession(id));
    for (const s of sessions) await a.attach(s, async () => {});

    backing = new MemoryPresenceMap();
    await vi.advanceTimersByTimeAsync(1_000);
    await until(async () => (await Promise.all(sessions.map((s) => presence.lookup(s.gatewayId)))).every((o) => o?.nodeId === 'node-a'), 'the re-claims');
    for (const s of sessions) await b.enqueue(s.gatewayId, inbound(`m-${s.gatewayId}`));
    await until(() => sessions.every((s) => s.frames.length === 1), 'each gateway its event');
    expect(sessions.every((s) => s.isOpen)).toBe(true);
  });

  it('a node whose claim was lost while another node claimed the gateway closes its socket when it re-checks', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    let backing = new MemoryPresenceMap();
    const { presence } = countingPresence(() => backing);
    const a = await startNode('node-a', { ...stores, presence }, { heartbeatMs: 1_000 });
    const session = new FakeSession('gw-1');
    await a.attach(session, async () => {});
    backing = new MemoryPresenceMap();
    // The gateway reconnected to node-b after the data loss; node-b's superseded reached nobody.
    await backing.heartbeat('node-b', 3_600_000);
    await backing.claim('gw-1', 'node-b');
    await vi.advanceTimersByTimeAsync(1_000);
    await until(() => !session.isOpen, 'the stale socket to close');
    expect(session.closed?.code).toBe(SUPERSEDED);
    expect((await presence.lookup('gw-1'))?.nodeId).toBe('node-b');
  });
});

describe('delivery: the slow background re-check', () => {
  it('spends no more store calls per second than its budget, and still reaches every gateway', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    const { presence, calls } = countingPresence(() => stores.presence);
    // 6 calls per second at 3 per gateway: 2 gateways re-checked per 1 s tick.
    const a = await startNode('node-a', { ...stores, presence }, { sweepCallsPerSecond: 6, sweepTickMs: 1_000 });
    const sessions = Array.from({ length: 10 }, (_, i) => new FakeSession(`gw-${i}`));
    for (const s of sessions) await a.attach(s, async () => {});
    await settle();
    // Every gateway was claimed by node-b without a signal reaching node-a.
    await stores.presence.heartbeat('node-b', 3_600_000);
    for (const s of sessions) await stores.presence.claim(s.gatewayId, 'node-b');
    const before = calls['lookup'] ?? 0;
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect((calls['lookup'] ?? 0) - before).toBe(2);
    expect(sessions.filter((s) => !s.isOpen)).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(4_000);
    await settle();
    expect(sessions.filter((s) => !s.isOpen)).toHaveLength(10);
    expect((calls['lookup'] ?? 0) - before).toBe(10);
  });

  it('at a budget of 0 it never runs', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    const { presence, calls } = countingPresence(() => stores.presence);
    const a = await startNode('node-a', { ...stores, presence }, { sweepCallsPerSecond: 0, sweepTickMs: 1_000 });
    await a.attach(new FakeSession('gw-1'), async () => {});
    await settle();
    const before = calls['lookup'] ?? 0;
    await vi.advanceTimersByTimeAsync(60_000);
    await settle();
    expect(calls['lookup'] ?? 0).toBe(before);
  });
});

describe('delivery: cost per event on the owner', () => {
  it('legacy: a batch of written events is recorded with one acknowledgement', async () => {
    const stores = sharedStores();
    const { queue, calls } = countingQueue(stores.queue);
    const node = await startNode('node-a', { ...stores, queue });
    const ids: string[] = [];
    for (const id of ['m1', 'm2', 'm3', 'm4']) ids.push((await stores.queue.append('gw-1', inbound(id))) as string);
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 4, 'four frames');
    await until(async () => (await stores.queue.lastAcked('gw-1')) === ids[3], 'the batch recorded');
    expect(calls['ack']).toBe(1);
  });

  it('an event for an idle connected gateway costs one queue read, and its confirmation none', async () => {
    const stores = sharedStores();
    const { queue, calls } = countingQueue(stores.queue);
    const node = await startNode('node-a', { ...stores, queue });
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    await settle();
    const reads = calls['readAfter'] ?? 0;
    await node.enqueue('gw-1', inbound('m1'));
    await until(() => session.frames.length === 1, 'm1');
    await settle();
    expect((calls['readAfter'] ?? 0) - reads).toBe(1);
    await node.acknowledge(session, session.frames[0]!.deliveryId!);
    await settle();
    expect((calls['readAfter'] ?? 0) - reads).toBe(1);
    expect(await stores.queue.lastAcked('gw-1')).toBe(session.frames[0]!.deliveryId);
  });

  it('a confirmation that frees room in a full window sends what waited behind it', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { ackWindow: 2 });
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    for (const id of ['m1', 'm2', 'm3']) await node.enqueue('gw-1', inbound(id));
    await until(() => session.frames.length === 2, 'the window');
    await settle();
    await node.acknowledge(session, session.frames[0]!.deliveryId!);
    await until(() => session.frames.length === 3, 'm3 after the confirmation');
    expect(session.inboundIds()).toEqual(['m1', 'm2', 'm3']);
  });

  it('the backlog gauges are computed from memory: unconfirmed and unwritten events, with the oldest age, no queue read', async () => {
    let clock = 1_000_000;
    const stores = sharedStores();
    const { queue, calls } = countingQueue(stores.queue);
    const node = await startNode('node-a', { ...stores, queue }, { now: () => clock });
    expect(node.backlog()).toEqual({ events: 0, oldestAgeSeconds: 0 });
    const acked = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(acked, async () => {});
    const appendedAt = Date.now();
    await node.enqueue('gw-1', inbound('m1'));
    await node.enqueue('gw-1', inbound('m2'));
    await until(() => acked.frames.length === 2, 'two unconfirmed');
    for (const id of ['m3', 'm4', 'm5']) await stores.queue.append('gw-2', inbound(id));
    const stalled = new FakeSession('gw-2');
    stalled.mode = 'stall';
    await node.attach(stalled, async () => {});
    await until(() => stalled.stalledWrites === 1, 'a write in progress');
    clock = appendedAt + 90_000;
    const reading = node.backlog();
    expect(reading.events).toBe(5);
    expect(reading.oldestAgeSeconds).toBeGreaterThanOrEqual(89);
    expect(reading.oldestAgeSeconds).toBeLessThan(100);
    await node.acknowledge(acked, acked.frames[1]!.deliveryId!);
    expect(node.backlog().events).toBe(3);
    expect(calls['backlog'] ?? 0).toBe(0);
  });
});
