/**
 * Wake-ups, in process: one bus message naming several gateways, a local wake after an append made elsewhere, a
 * closed drain that starts nothing, and a failing background timer that is logged rather than lost.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GatewayDrain } from '../../src/delivery/gateway-drain.js';
import { LocalGateways } from '../../src/delivery/local-gateways.js';
import { MediaInliner } from '../../src/delivery/media-inliner.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { MemoryDeliveryQueue, MemoryNodeBus } from '../../src/state/memory/index.js';
import { LEVEL, capturingLogger } from './delivery-log-capture.js';
import { FakeSession, closeNodes, localEntry, inbound, settle, sharedStores, silent, startNode, until } from './delivery-harness.js';

afterEach(async () => {
  vi.useRealTimers();
  await closeNodes();
});

describe('wake-ups', () => {
  it('a wake-many message drains every gateway it names', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const sessions = ['gw-1', 'gw-2'].map((id) => new FakeSession(id));
    for (const s of sessions) await node.attach(s, async () => {});
    for (const s of sessions) await stores.queue.append(s.gatewayId, inbound(`m-${s.gatewayId}`));
    await new MemoryNodeBus({ hub: stores.hub }).publish('node-a', { kind: 'wake-many', gatewayIds: ['gw-1', 'gw-2'], sentAt: Date.now() });
    await until(() => sessions.every((s) => s.frames.length === 1), 'both gateways their event');
  });

  it('wakeLocal drains a gateway attached here after an append made elsewhere', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    // Let the attach's own drain finish first.
    await settle();
    await stores.queue.append('gw-1', inbound('m1'));
    node.wakeLocal('gw-1');
    await until(() => session.frames.length === 1, 'm1');
  });

  it('a closed drain starts nothing', async () => {
    const queue = new MemoryDeliveryQueue();
    const local = new LocalGateways(createMetrics('node-a'));
    const session = new FakeSession('gw-1');
    local.add(localEntry(session));
    const media = new MediaInliner({ source: { download: async () => ({ data: Buffer.from(''), mime: 'image/png' }) }, maxBytes: 1, transfers: new Semaphore(1), logger: silent });
    const drain = new GatewayDrain({ queue, local, media, metrics: createMetrics('node-a'), logger: silent, now: Date.now, ackWindow: 10 });
    await queue.append('gw-1', inbound('m1'));
    drain.close();
    drain.schedule('gw-1');
    await settle();
    expect(session.frames).toEqual([]);
  });
});

describe('a wake-up as a drain ends', () => {
  /** A drain whose first read comes back empty, as a read made just before another node's append does. */
  function racingDrain() {
    const queue = new MemoryDeliveryQueue();
    let reads = 0;
    const racing = Object.assign(Object.create(queue) as MemoryDeliveryQueue, {
      readAfter: async (gatewayId: string, after: string | null, limit: number) => (++reads === 1 ? [] : await queue.readAfter(gatewayId, after, limit)),
    });
    const local = new LocalGateways(createMetrics('node-a'));
    const session = new FakeSession('gw-1');
    local.add(localEntry(session));
    const media = new MediaInliner({ source: { download: async () => ({ data: Buffer.from(''), mime: 'image/png' }) }, maxBytes: 1, transfers: new Semaphore(1), logger: silent });
    const drain = new GatewayDrain({ queue: racing, local, media, metrics: createMetrics('node-a'), logger: silent, now: Date.now, ackWindow: 10 });
    return { queue, session, drain };
  }

  it('is never lost, at whatever step of the ending drain it arrives', async () => {
    // The wake-up for an append that the drain's read just missed comes 0, 1, 2, ... microtasks after the read: one of
    // them lands after the drain's last look at `again` and before it is marked finished.
    for (let hops = 0; hops <= 12; hops++) {
      const { queue, session, drain } = racingDrain();
      await queue.append('gw-1', inbound(`m-${hops}`));
      drain.schedule('gw-1');
      for (let i = 0; i < hops; i++) await Promise.resolve();
      drain.schedule('gw-1');
      await settle();
      expect(session.frames.map((f) => (f as { id?: string }).id), `wake-up ${hops} microtasks after the read`).toEqual([`m-${hops}`]);
    }
  });
});

describe('background timers', () => {
  it('a heartbeat the store refuses is logged as a warning, and the next one is still made', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    const log = capturingLogger();
    let fail = false;
    let beats = 0;
    const presence = Object.assign(Object.create(stores.presence) as typeof stores.presence, {
      heartbeat: async (n: string, ttl: number) => {
        beats++;
        if (fail) throw new Error('store down');
        return stores.presence.heartbeat(n, ttl);
      },
    });
    await startNode('node-a', { ...stores, presence }, { heartbeatMs: 1_000, logger: log.logger });
    fail = true;
    await vi.advanceTimersByTimeAsync(2_000);
    await settle();
    expect(beats).toBe(3);
    const warnings = log.lines.filter((l) => l.msg === 'delivery timer failed');
    expect(warnings.map((l) => [l.level, (l.err as { message?: string }).message])).toEqual([
      [LEVEL.warn, 'store down'],
      [LEVEL.warn, 'store down'],
    ]);
  });
});
