/**
 * The retention bound on gateway queues, in process: applied before a returning gateway is served, every 50 new
 * appends (duplicates do not count), during re-checks; what it drops is counted and logged for operators, and a
 * failed trim is logged without failing anything.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DeliveryQueue } from '../../src/state/delivery-queue.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { countingQueue } from './delivery-counting.js';
import { LEVEL, capturingLogger, metricValue } from './delivery-log-capture.js';
import { FakeSession, closeNodes, inbound, settle, sharedStores, startNode, until } from './delivery-harness.js';

afterEach(async () => {
  await closeNodes();
});

describe('retention: what is dropped is reported', () => {
  it('a returning gateway is served only what the bound keeps; the drop is counted and logged with its size', async () => {
    const stores = sharedStores();
    for (const id of ['m1', 'm2', 'm3', 'm4', 'm5']) await stores.queue.append('gw-1', inbound(id));
    const log = capturingLogger();
    const metrics = createMetrics('node-a');
    const node = await startNode('node-a', stores, { logger: log.logger, metrics, retention: { maxAgeMs: 3_600_000, maxItems: 2 } });
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 2, 'what was kept');
    await settle();
    expect(session.inboundIds()).toEqual(['m4', 'm5']);
    expect(await metricValue(metrics.queueDropped, {})).toBe(3);
    expect(log.lines.filter((l) => l.msg === 'undelivered events dropped by the retention bound').map((l) => [l.level, l.gatewayId, l.dropped])).toEqual([
      [LEVEL.warn, 'gw-1', 3],
    ]);
  });

  it('a trim that drops nothing counts and logs nothing', async () => {
    const stores = sharedStores();
    await stores.queue.append('gw-1', inbound('m1'));
    const log = capturingLogger();
    const metrics = createMetrics('node-a');
    const node = await startNode('node-a', stores, { logger: log.logger, metrics, retention: { maxAgeMs: 3_600_000, maxItems: 2 } });
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 1, 'm1');
    expect(await metricValue(metrics.queueDropped, {})).toBe(0);
    expect(log.messages()).toEqual([]);
  });

  it('a trim that fails is logged and does not keep the gateway from being served', async () => {
    const stores = sharedStores();
    await stores.queue.append('gw-1', inbound('m1'));
    const log = capturingLogger();
    const queue = Object.assign(Object.create(stores.queue) as DeliveryQueue, {
      trim: async () => {
        throw new Error('store down');
      },
    });
    const node = await startNode('node-a', { ...stores, queue }, { logger: log.logger });
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 1, 'm1');
    expect(log.lines.filter((l) => l.msg === 'queue trim failed').map((l) => [l.level, l.gatewayId, (l.err as { message?: string }).message])).toEqual([
      [LEVEL.warn, 'gw-1', 'store down'],
    ]);
  });
});

describe('retention: trimmed every 50 new appends', () => {
  it('duplicates (an append its dedup key refused) do not count toward the next trim', async () => {
    const stores = sharedStores();
    const { queue, calls } = countingQueue(stores.queue);
    const node = await startNode('node-a', { ...stores, queue });
    await node.enqueue('gw-1', inbound('m0'), { dedupKey: 'k0' });
    for (let i = 0; i < 60; i++) expect(await node.enqueue('gw-1', inbound('m0'), { dedupKey: 'k0' })).toBe(false);
    await settle();
    expect(calls['trim'] ?? 0).toBe(0);
    for (let i = 1; i < 50; i++) await node.enqueue('gw-1', inbound(`m${i}`));
    await settle();
    expect(calls['trim'] ?? 0).toBe(1);
  });

  it('counts appends made elsewhere in a batch toward the same bound', async () => {
    const stores = sharedStores();
    const { queue, calls } = countingQueue(stores.queue);
    const node = await startNode('node-a', { ...stores, queue });
    node.noteAppended('gw-1', 49);
    await settle();
    expect(calls['trim'] ?? 0).toBe(0);
    node.noteAppended('gw-1', 1);
    await settle();
    expect(calls['trim'] ?? 0).toBe(1);
  });
});
