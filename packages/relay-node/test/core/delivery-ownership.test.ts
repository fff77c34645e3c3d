/**
 * Who serves a gateway, in process: claims and the superseded signal, the re-check against the presence map
 * (a lost claim, a missed newer connection, a claim race), the connection details operators read, the release of
 * a socket that left, and the bus messages a node acts on.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ERROR_CATALOG } from '../../src/errors/error-catalog.js';
import { GatewayOwnership } from '../../src/delivery/gateway-ownership.js';
import { LocalGateways, type LocalGateway } from '../../src/delivery/local-gateways.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemoryBusHub, MemoryNodeBus, MemoryPresenceMap } from '../../src/state/memory/index.js';
import type { BusMessage } from '../../src/state/node-bus.js';
import type { PresenceMap } from '../../src/state/presence-map.js';
import { LEVEL, capturingLogger, metricValue } from './delivery-log-capture.js';
import { FakeSession, closeNodes, localEntry, inbound, settle, sharedStores, startNode, until } from './delivery-harness.js';

const SUPERSEDED = ERROR_CATALOG.SUPERSEDED.closeCode;

afterEach(async () => {
  await closeNodes();
});

/** GatewayOwnership of node-a over a real memory presence map, with what node-b hears on the bus. */
async function ownershipOf(presence: PresenceMap = new MemoryPresenceMap()) {
  // Both nodes alive: the map reports owners of live nodes only.
  await presence.heartbeat('node-a', 3_600_000);
  await presence.heartbeat('node-b', 3_600_000);
  const hub = new MemoryBusHub();
  const heardByB: BusMessage[] = [];
  const heardByA: BusMessage[] = [];
  await new MemoryNodeBus({ hub }).subscribe('node-b', (m) => void heardByB.push(m));
  await new MemoryNodeBus({ hub }).subscribe('node-a', (m) => void heardByA.push(m));
  const metrics = createMetrics('node-a');
  const local = new LocalGateways(metrics);
  const log = capturingLogger();
  const ownership = new GatewayOwnership({ nodeId: 'node-a', presence, bus: new MemoryNodeBus({ hub }), local, metrics, logger: log.logger });
  return { ownership, local, presence, metrics, log, heardByA, heardByB };
}

async function attachLocally(o: Awaited<ReturnType<typeof ownershipOf>>, session: FakeSession): Promise<LocalGateway> {
  const generation = await o.ownership.claim(session);
  const entry: LocalGateway = localEntry(session, generation);
  o.local.add(entry);
  return entry;
}

describe('claim', () => {
  it('tells the previous owner node it was superseded, with the new generation, and counts the message', async () => {
    const o = await ownershipOf();
    await o.presence.claim('gw-1', 'node-b');
    const generation = await o.ownership.claim(new FakeSession('gw-1'));
    await settle();
    expect(o.heardByB).toEqual([{ kind: 'superseded', gatewayId: 'gw-1', generation }]);
    expect(await metricValue(o.metrics.busMessages, { direction: 'sent', kind: 'superseded' })).toBe(1);
  });

  it('sends nothing when the gateway had no owner or was already this node', async () => {
    const o = await ownershipOf();
    await o.ownership.claim(new FakeSession('gw-1'));
    await o.ownership.claim(new FakeSession('gw-1'));
    await settle();
    expect(o.heardByA).toEqual([]);
    expect(o.heardByB).toEqual([]);
    expect(await metricValue(o.metrics.busMessages, { direction: 'sent', kind: 'superseded' })).toBe(0);
  });
});

describe('re-check against the presence map', () => {
  it('keeps a gateway the map still gives to this socket', async () => {
    const o = await ownershipOf();
    const session = new FakeSession('gw-1');
    const entry = await attachLocally(o, session);
    expect(await o.ownership.reassert(entry)).toBe(true);
    expect(session.isOpen).toBe(true);
    expect(o.local.isCurrent(entry)).toBe(true);
  });

  it('claims again a gateway the store forgot, under a new generation its socket later releases', async () => {
    const o = await ownershipOf();
    const session = new FakeSession('gw-1');
    const entry = await attachLocally(o, session);
    await o.presence.release('gw-1', 'node-a', entry.generation);
    expect(await o.ownership.reassert(entry)).toBe(true);
    const owner = await o.presence.lookup('gw-1');
    expect(owner?.nodeId).toBe('node-a');
    expect(entry.generation).toBe(owner?.generation);
    o.local.remove(entry);
    // Released by the generation of the re-claim (the socket is no longer current here).
    await o.ownership.release(session, o.local.generationOf(session));
    expect(await o.presence.lookup('gw-1')).toBeNull();
  });

  it('closes a socket whose gateway another node claimed between the lookup and the re-claim', async () => {
    const backing = new MemoryPresenceMap();
    // The lookup saw no owner; by the time of the claim node-b holds the gateway.
    const racing: PresenceMap = Object.assign(Object.create(backing) as PresenceMap, {
      lookup: async () => {
        await backing.claim('gw-1', 'node-b');
        return null;
      },
    });
    const o = await ownershipOf(racing);
    const session = new FakeSession('gw-1');
    const entry = await attachLocally(o, session);
    expect(await o.ownership.reassert(entry)).toBe(false);
    expect(session.closed?.code).toBe(SUPERSEDED);
    expect(o.local.get('gw-1')).toBeUndefined();
  });

  it("a re-claim that finds this node's own claim (made between the lookup and the claim) keeps the socket", async () => {
    const backing = new MemoryPresenceMap();
    const racing: PresenceMap = Object.assign(Object.create(backing) as PresenceMap, {
      lookup: async () => {
        await backing.claim('gw-1', 'node-a');
        return null;
      },
    });
    const o = await ownershipOf(racing);
    const session = new FakeSession('gw-1');
    const entry = await attachLocally(o, session);
    expect(await o.ownership.reassert(entry)).toBe(true);
    expect(session.isOpen).toBe(true);
    expect(o.local.isCurrent(entry)).toBe(true);
  });

  it('closes a socket when another node holds the gateway, or this node holds it under a newer generation', async () => {
    const o = await ownershipOf();
    const elsewhere = new FakeSession('gw-1');
    const e1 = await attachLocally(o, elsewhere);
    await o.presence.claim('gw-1', 'node-b');
    expect(await o.ownership.reassert(e1)).toBe(false);
    expect(elsewhere.closed?.code).toBe(SUPERSEDED);

    const older = new FakeSession('gw-2');
    const e2 = await attachLocally(o, older);
    await o.presence.claim('gw-2', 'node-a');
    expect(await o.ownership.reassert(e2)).toBe(false);
    expect(older.closed?.code).toBe(SUPERSEDED);
    expect(o.log.lines.filter((l) => l.msg === 'connection superseded by a newer one').map((l) => [l.level, l.gatewayId])).toEqual([
      [LEVEL.info, 'gw-1'],
      [LEVEL.info, 'gw-2'],
    ]);
  });

  it('does not touch the map for a socket that is no longer current', async () => {
    const o = await ownershipOf();
    const session = new FakeSession('gw-1');
    const entry = await attachLocally(o, session);
    o.local.remove(entry);
    await o.presence.release('gw-1', 'node-a', entry.generation);
    expect(await o.ownership.reassert(entry)).toBe(false);
    expect(await o.presence.lookup('gw-1')).toBeNull();
  });
});

describe('connection details and release', () => {
  it('records since, dialect (plain when the session does not say) and delivery mode for operators', async () => {
    const o = await ownershipOf();
    const session = Object.assign(new FakeSession('gw-1', { delivery: 'ack' }), { openedAt: 1234 });
    const generation = await o.ownership.claim(session);
    o.ownership.describe(session, generation);
    await settle();
    expect((await o.presence.details('gw-1'))?.details).toEqual({ since: 1234, dialect: 'plain', delivery: 'ack' });
    const cs = Object.assign(new FakeSession('gw-2'), { dialect: 'cs' });
    o.ownership.describe(cs, await o.ownership.claim(cs));
    await settle();
    expect((await o.presence.details('gw-2'))?.details?.dialect).toBe('cs');
  });

  it('a store that cannot record the details does not fail the connection; it is logged at debug', async () => {
    const backing = new MemoryPresenceMap();
    const failing: PresenceMap = Object.assign(Object.create(backing) as PresenceMap, {
      describe: async () => {
        throw new Error('store down');
      },
    });
    const o = await ownershipOf(failing);
    const session = new FakeSession('gw-1');
    o.ownership.describe(session, await o.ownership.claim(session));
    await settle();
    expect(o.log.lines.filter((l) => l.msg === 'connection details not recorded').map((l) => [l.level, l.gatewayId])).toEqual([[LEVEL.debug, 'gw-1']]);
  });

  it('a socket that never claimed releases nothing', async () => {
    const o = await ownershipOf();
    const released: number[] = [];
    const backing = o.presence;
    backing.release = async (g, n, gen) => (released.push(gen), false);
    await o.ownership.release(new FakeSession('gw-1'), undefined);
    await o.ownership.release(new FakeSession('gw-1'), 7);
    expect(released).toEqual([7]);
  });
});

describe('through the delivery service', () => {
  it('a socket that closes while it is still attaching releases its own claim', async () => {
    const stores = sharedStores();
    let releaseTrim!: () => void;
    const trimHeld = new Promise<void>((r) => (releaseTrim = r));
    const queue = Object.assign(Object.create(stores.queue) as typeof stores.queue, {
      trim: async () => {
        await trimHeld;
        return 0;
      },
    });
    const node = await startNode('node-a', { ...stores, queue });
    const session = new FakeSession('gw-1');
    const attaching = node.attach(session, async () => {});
    await until(async () => (await stores.presence.lookup('gw-1')) !== null, 'the claim');
    session.close(1000, 'gone');
    await node.detach(session);
    expect(await stores.presence.lookup('gw-1')).toBeNull();
    releaseTrim();
    await attaching;
  });

  it('a confirmation from a superseded socket does not confirm what its successor was sent', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const old = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(old, async () => {});
    const current = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(current, async () => {});
    await node.enqueue('gw-1', inbound('m1'));
    await until(() => current.frames.length === 1, 'm1');
    await node.acknowledge(old, current.frames[0]!.deliveryId!);
    await settle();
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();
    await node.acknowledge(new FakeSession('gw-unknown', { delivery: 'ack' }), '1');
    await node.acknowledge(current, current.frames[0]!.deliveryId!);
    expect(await stores.queue.lastAcked('gw-1')).toBe(current.frames[0]!.deliveryId);
  });

  it('a stale attach (older generation than the socket already here) is closed and leaves the newer one serving', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const newer = new FakeSession('gw-1');
    const older = new FakeSession('gw-1');
    // older claims first but reaches the registry after newer.
    let releaseTrim!: () => void;
    const trimHeld = new Promise<void>((r) => (releaseTrim = r));
    let trims = 0;
    const queue = Object.assign(Object.create(stores.queue) as typeof stores.queue, {
      trim: async () => {
        if (trims++ === 0) await trimHeld;
        return 0;
      },
    });
    const slow = await startNode('node-a', { ...stores, queue });
    void node;
    const olderAttach = slow.attach(older, async () => {});
    await until(async () => (await stores.presence.lookup('gw-1')) !== null, 'the older claim');
    await slow.attach(newer, async () => {});
    releaseTrim();
    await olderAttach;
    expect(older.closed?.code).toBe(SUPERSEDED);
    expect(newer.isOpen).toBe(true);
    await slow.enqueue('gw-1', inbound('m1'));
    await until(() => newer.frames.length === 1, 'm1 to the newer socket');
  });
});

describe('bus messages a node acts on', () => {
  it('a redeliver request from another node is carried out and logged with who asked and the outcome', async () => {
    const stores = sharedStores();
    const log = capturingLogger();
    const metrics = createMetrics('node-a');
    const a = await startNode('node-a', stores, { logger: log.logger, metrics });
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await a.attach(session, async () => {});
    await a.enqueue('gw-1', inbound('m1'));
    await until(() => session.frames.length === 1, 'm1');
    await new MemoryNodeBus({ hub: stores.hub }).publish('node-a', { kind: 'redeliver', gatewayId: 'gw-1', afterId: null, by: 'ops' });
    await until(() => session.frames.length === 2, 'm1 again');
    await until(() => log.messages().includes('redeliver request from another node'), 'the log line');
    const line = log.lines.find((l) => l.msg === 'redeliver request from another node')!;
    expect(line).toMatchObject({ level: LEVEL.info, gatewayId: 'gw-1', by: 'ops', result: 'scheduled', after: null });
    expect(await metricValue(metrics.busMessages, { direction: 'received', kind: 'redeliver' })).toBe(1);
  });

  it('a redeliver request that fails is logged as a warning', async () => {
    const stores = sharedStores();
    const log = capturingLogger();
    const queue = Object.assign(Object.create(stores.queue) as typeof stores.queue, {
      lastAcked: async () => {
        throw new Error('store down');
      },
    });
    const a = await startNode('node-a', { ...stores, queue }, { logger: log.logger });
    // Attached before the store broke.
    void a;
    const node = await startNode('node-b', stores, { logger: log.logger });
    await node.attach(new FakeSession('gw-1', { delivery: 'ack' }), async () => {});
    (stores.queue as { lastAcked: unknown }).lastAcked = queue.lastAcked;
    await new MemoryNodeBus({ hub: stores.hub }).publish('node-b', { kind: 'redeliver', gatewayId: 'gw-1', afterId: null, by: 'ops' });
    await until(() => log.messages(LEVEL.warn).includes('redeliver request failed'), 'the warning');
    expect(log.lines.find((l) => l.msg === 'redeliver request failed')).toMatchObject({ gatewayId: 'gw-1' });
  });

  it("passes an operator's drain message on to the node, and counts what it receives by kind", async () => {
    const stores = sharedStores();
    const control: BusMessage[] = [];
    const metrics = createMetrics('node-a');
    await startNode('node-a', stores, { onControl: (m) => void control.push(m), metrics });
    await new MemoryNodeBus({ hub: stores.hub }).publish('node-a', { kind: 'drain', by: 'ops' });
    await until(() => control.length === 1, 'the drain message');
    expect(control).toEqual([{ kind: 'drain', by: 'ops' }]);
    expect(await metricValue(metrics.busMessages, { direction: 'received', kind: 'drain' })).toBe(1);
    await startNode('node-c', stores);
    await new MemoryNodeBus({ hub: stores.hub }).publish('node-c', { kind: 'drain', by: 'ops' });
    await settle();
  });

  it('a wake-up for a gateway held elsewhere is sent to its node and counted', async () => {
    const stores = sharedStores();
    const metrics = createMetrics('node-a');
    const a = await startNode('node-a', stores, { metrics });
    const b = await startNode('node-b', stores);
    await stores.presence.heartbeat('node-b', 3_600_000);
    const session = new FakeSession('gw-1');
    await b.attach(session, async () => {});
    await a.enqueue('gw-1', inbound('m1'));
    await until(() => session.frames.length === 1, 'm1 on node-b');
    expect(await metricValue(metrics.busMessages, { direction: 'sent', kind: 'wake' })).toBe(1);
  });
});
