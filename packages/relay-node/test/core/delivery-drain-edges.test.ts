/**
 * The drain of one gateway's queue, in process: nothing before the binding replay, whole backlogs in order across
 * batches, no write to a socket that was superseded or closed, no read while the ack window is full, retries after
 * a failure, redeliver's answers, the frames of each event kind, and the gauges and metrics an operator reads.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { QueuedEvent } from '@wecom-relay/shared';
import { ERROR_CATALOG } from '../../src/errors/error-catalog.js';
import { MediaInliner } from '../../src/delivery/media-inliner.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { Semaphore } from '../../src/util/semaphore.js';
import type { DeliveryQueue } from '../../src/state/delivery-queue.js';
import { countingQueue } from './delivery-counting.js';
import { LEVEL, capturingLogger, metricValue } from './delivery-log-capture.js';
import { FakeSession, closeNodes, inbound, settle, sharedStores, silent, startNode, until } from './delivery-harness.js';

afterEach(async () => {
  vi.useRealTimers();
  await closeNodes();
});

/** A socket that, like a real one, stays open for a while after close() was called (the close handshake). */
class LingeringSession extends FakeSession {
  closeCalled: number | null = null;
  override close(code: number): void {
    this.closeCalled = code;
  }
}

/** A queue whose readAfter fails the next `n` times. */
function failingReads(inner: DeliveryQueue, failures: { left: number }): DeliveryQueue {
  return Object.assign(Object.create(inner) as DeliveryQueue, {
    readAfter: (g: string, after: string | null, limit: number) => {
      if (failures.left-- > 0) return Promise.reject(new Error('store down'));
      return inner.readAfter(g, after, limit);
    },
  });
}

describe('drain: when it starts and stops', () => {
  it('writes nothing before the binding replay finished, and counts nothing in the backlog meanwhile', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1');
    let finishReplay!: () => void;
    const attaching = node.attach(session, () => new Promise<void>((r) => (finishReplay = r)));
    await until(() => node.localCount() === 1, 'the attach');
    await node.enqueue('gw-1', inbound('m1'));
    await settle();
    expect(session.frames).toEqual([]);
    expect(node.backlog()).toEqual({ events: 0, oldestAgeSeconds: 0 });
    finishReplay();
    await attaching;
    await until(() => session.frames.length === 1, 'm1 after the replay');
  });

  it('a wake-up for a gateway not attached here, or with nothing queued, does nothing and logs nothing', async () => {
    const stores = sharedStores();
    const log = capturingLogger();
    const node = await startNode('node-a', stores, { logger: log.logger });
    node.wakeLocal('gw-nowhere');
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    node.wakeLocal('gw-1');
    await settle();
    expect(session.frames).toEqual([]);
    expect(log.messages(LEVEL.warn)).toEqual([]);
  });

  it('delivers a backlog longer than one batch whole and in order', async () => {
    const stores = sharedStores();
    const ids = Array.from({ length: 120 }, (_, i) => `m${i}`);
    for (const id of ids) await stores.queue.append('gw-1', inbound(id));
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await until(() => session.frames.length === 120, '120 frames');
    expect(session.inboundIds()).toEqual(ids);
  });

  it('stops writing to a socket superseded mid-batch, though it is still closing', async () => {
    const stores = sharedStores();
    for (const id of ['m1', 'm2', 'm3']) await stores.queue.append('gw-1', inbound(id));
    const node = await startNode('node-a', stores);
    const old = new LingeringSession('gw-1');
    old.mode = 'stall';
    await node.attach(old, async () => {});
    await until(() => old.stalledWrites === 1, 'm1 in progress');
    const current = new FakeSession('gw-1');
    current.mode = 'stall';
    await node.attach(current, async () => {});
    expect(old.closeCalled).toBe(ERROR_CATALOG.SUPERSEDED.closeCode);
    old.mode = 'ok';
    old.release();
    await settle();
    expect(old.inboundIds()).toEqual(['m1']);
    current.mode = 'ok';
    current.release();
    await until(() => current.frames.length === 3, 'the new socket gets all three');
  });

  it('reads nothing more once the socket closed mid-batch', async () => {
    const stores = sharedStores();
    for (let i = 0; i < 120; i++) await stores.queue.append('gw-1', inbound(`m${i}`));
    const { queue, calls } = countingQueue(stores.queue);
    const log = capturingLogger();
    const node = await startNode('node-a', { ...stores, queue }, { logger: log.logger });
    const session = new FakeSession('gw-1');
    session.mode = 'stall';
    await node.attach(session, async () => {});
    await until(() => session.stalledWrites === 1, 'm0 in progress');
    const reads = calls['readAfter'];
    session.close(4009, 'not reading');
    session.release();
    await settle();
    expect(calls['readAfter']).toBe(reads);
    // A closed socket is not a failure worth a warning.
    expect(log.messages(LEVEL.warn)).toEqual([]);
  });

  it('a socket whose write fails (and closes) is not warned about', async () => {
    const stores = sharedStores();
    const log = capturingLogger();
    const node = await startNode('node-a', stores, { logger: log.logger });
    const session = new FakeSession('gw-1');
    session.mode = 'reject';
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', inbound('m1'));
    await settle();
    expect(session.isOpen).toBe(false);
    expect(log.messages(LEVEL.warn)).toEqual([]);
  });

  it('does not read while the ack window is full; a wake-up then costs no store call', async () => {
    const stores = sharedStores();
    const { queue, calls } = countingQueue(stores.queue);
    const node = await startNode('node-a', { ...stores, queue }, { ackWindow: 2 });
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', inbound('m1'));
    await node.enqueue('gw-1', inbound('m2'));
    await until(() => session.frames.length === 2, 'a full window');
    await settle();
    const reads = calls['readAfter'];
    await node.enqueue('gw-1', inbound('m3'));
    await settle();
    expect(calls['readAfter']).toBe(reads);
    expect(session.frames).toHaveLength(2);
  });
});

describe('drain: a failed drain is tried again', () => {
  it('a store failure is logged with the gateway and the drain retried 2 s later', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    const stores = sharedStores();
    const log = capturingLogger();
    const failures = { left: 0 };
    const node = await startNode('node-a', { ...stores, queue: failingReads(stores.queue, failures) }, { logger: log.logger });
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await settle();
    failures.left = 1;
    await node.enqueue('gw-1', inbound('m1'));
    await settle();
    expect(session.frames).toEqual([]);
    expect(log.lines.filter((l) => l.msg === 'delivery interrupted; events stay queued').map((l) => [l.level, l.gatewayId])).toEqual([[LEVEL.warn, 'gw-1']]);
    await vi.advanceTimersByTimeAsync(1_999);
    await settle();
    expect(session.frames).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(session.inboundIds()).toEqual(['m1']);
  });

  it('media WeCom cannot serve for a moment is retried without a warning', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    const stores = sharedStores();
    const log = capturingLogger();
    let busy = 1;
    const media = new MediaInliner({
      source: {
        download: async () => {
          if (busy-- > 0) throw Object.assign(new Error('busy'), { code: 'WECOM_UNAVAILABLE' });
          return { data: Buffer.from('img'), mime: 'image/png' };
        },
      },
      maxBytes: 1024,
      transfers: new Semaphore(2),
      logger: silent,
    });
    const node = await startNode('node-a', stores, { logger: log.logger, media });
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', { ...inbound('m1'), msgType: 'image', content: '', mediaId: 'pic' } as QueuedEvent);
    await settle();
    expect(session.frames).toEqual([]);
    await vi.advanceTimersByTimeAsync(2_000);
    await settle();
    expect(session.frames).toHaveLength(1);
    expect(log.messages(LEVEL.warn)).toEqual([]);
  });
});

describe('redeliver: its answers', () => {
  it('answers not_connected, not_ack_mode, not_waiting or scheduled, and logs what it schedules', async () => {
    const stores = sharedStores();
    const log = capturingLogger();
    const node = await startNode('node-a', stores, { logger: log.logger });
    expect(await node.redeliver('gw-none', null)).toEqual({ result: 'not_connected' });
    await node.attach(new FakeSession('gw-legacy'), async () => {});
    expect(await node.redeliver('gw-legacy', null)).toEqual({ result: 'not_ack_mode' });
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    expect(await node.redeliver('gw-1', null)).toEqual({ result: 'scheduled', after: null });
    await node.enqueue('gw-1', inbound('m1'));
    await node.enqueue('gw-1', inbound('m2'));
    await until(() => session.frames.length === 2, 'm1, m2');
    const [d1] = session.frames.map((f) => f.deliveryId!);
    await node.acknowledge(session, d1!);
    expect(await node.redeliver('gw-1', '999')).toEqual({ result: 'not_waiting' });
    expect(await node.redeliver('gw-1', d1!)).toEqual({ result: 'scheduled', after: d1 });
    await until(() => session.frames.length === 3, 'm2 again');
    expect(session.inboundIds()).toEqual(['m1', 'm2', 'm2']);
    expect(log.lines.filter((l) => l.msg === 'redelivering on request').map((l) => [l.level, l.gatewayId, l.after])).toEqual([
      [LEVEL.info, 'gw-1', null],
      [LEVEL.info, 'gw-1', d1],
    ]);
  });

  it('answers not_connected for a socket that left while its acknowledgement pointer was read', async () => {
    const stores = sharedStores();
    let hold: Promise<void> | null = null;
    let reached!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    const queue = Object.assign(Object.create(stores.queue) as DeliveryQueue, {
      lastAcked: async (g: string) => {
        if (hold) {
          reached();
          await hold;
        }
        return stores.queue.lastAcked(g);
      },
    });
    const node = await startNode('node-a', { ...stores, queue });
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    let go!: () => void;
    hold = new Promise<void>((r) => (go = r));
    const answer = node.redeliver('gw-1', null);
    await reachedP;
    await node.detach(session);
    go();
    expect(await answer).toEqual({ result: 'not_connected' });
  });
});

describe('drain: what is recorded as delivered', () => {
  it('ack mode: events sent but not confirmed move no acknowledgement pointer', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1', { delivery: 'ack' });
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', inbound('m1'));
    await node.enqueue('gw-1', inbound('m2'));
    await until(() => session.frames.length === 2, 'two frames');
    await settle();
    expect(await stores.queue.lastAcked('gw-1')).toBeNull();
    expect(node.backlog().events).toBe(2);
  });

  it('legacy: what was written leaves nothing in the backlog', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => {});
    await node.enqueue('gw-1', inbound('m1'));
    await node.enqueue('gw-1', inbound('m2'));
    await until(() => session.frames.length === 2, 'two frames');
    await settle();
    expect(node.backlog()).toEqual({ events: 0, oldestAgeSeconds: 0 });
  });

  it('counts a batch still being written in the backlog: what is left of it, aged by its oldest unwritten item', async () => {
    let clock = 0;
    const stores = sharedStores();
    for (const [i, id] of ['m1', 'm2', 'm3'].entries()) {
      clock = 1_000 * (i + 1);
      await stores.queue.append('gw-1', inbound(id));
    }
    const enqueuedAt = (await stores.queue.readAfter('gw-1', null, 3)).map((it) => it.enqueuedAt);
    clock = enqueuedAt[2]! + 10_000;
    const node = await startNode('node-a', stores, { now: () => clock });
    const session = new FakeSession('gw-1');
    session.mode = 'stall';
    await node.attach(session, async () => {});
    await until(() => session.stalledWrites === 1, 'm1 in progress');
    expect(node.backlog()).toEqual({ events: 3, oldestAgeSeconds: (clock - enqueuedAt[0]!) / 1000 });
    session.release();
    await until(() => session.stalledWrites === 1 && session.frames.length === 1, 'm2 in progress');
    expect(node.backlog()).toEqual({ events: 2, oldestAgeSeconds: (clock - enqueuedAt[1]!) / 1000 });
    session.release();
    await until(() => session.stalledWrites === 1 && session.frames.length === 2, 'm3 in progress');
    expect(node.backlog()).toEqual({ events: 1, oldestAgeSeconds: (clock - enqueuedAt[2]!) / 1000 });
    session.mode = 'ok';
    session.release();
    await until(() => session.frames.length === 3, 'm3');
  });

  it('the backlog is aged by the oldest event of any gateway', async () => {
    let clock = 100_000;
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { now: () => clock });
    const newer = new FakeSession('gw-new', { delivery: 'ack' });
    const older = new FakeSession('gw-old', { delivery: 'ack' });
    await node.attach(older, async () => {});
    await node.attach(newer, async () => {});
    await node.enqueue('gw-old', inbound('o1'));
    await until(() => older.frames.length === 1, 'o1');
    const oldAt = (await stores.queue.readAfter('gw-old', null, 1))[0]!.enqueuedAt;
    await new Promise((r) => setTimeout(r, 5));
    await node.enqueue('gw-new', inbound('n1'));
    await until(() => newer.frames.length === 1, 'n1');
    clock = oldAt + 60_000;
    expect(node.backlog()).toEqual({ events: 2, oldestAgeSeconds: 60 });
    await node.acknowledge(older, older.frames[0]!.deliveryId!);
    const newAt = (await stores.queue.readAfter('gw-new', null, 1))[0]!.enqueuedAt;
    expect(node.backlog()).toEqual({ events: 1, oldestAgeSeconds: (clock - newAt) / 1000 });
    expect(newAt).toBeGreaterThan(oldAt);
  });
});

describe('drain: the backlog age, whatever the order gateways attached in', () => {
  it('a gateway attached first with a newer event does not hide an older one attached later', async () => {
    let clock = 0;
    const stores = sharedStores();
    const node = await startNode('node-a', stores, { now: () => clock });
    const first = new FakeSession('gw-first', { delivery: 'ack' });
    const second = new FakeSession('gw-second', { delivery: 'ack' });
    await stores.queue.append('gw-second', inbound('old'));
    await new Promise((r) => setTimeout(r, 5));
    await stores.queue.append('gw-first', inbound('new'));
    await node.attach(first, async () => {});
    await node.attach(second, async () => {});
    await until(() => first.frames.length === 1 && second.frames.length === 1, 'both sent');
    const oldAt = (await stores.queue.readAfter('gw-second', null, 1))[0]!.enqueuedAt;
    clock = oldAt + 30_000;
    expect(node.backlog()).toEqual({ events: 2, oldestAgeSeconds: 30 });
  });
});

describe('drain: frames', () => {
  it("skips only the replayed user's binding_resolved; that user's messages are still delivered", async () => {
    const stores = sharedStores();
    await stores.queue.append('gw-1', { type: 'binding_resolved', externalUserId: 'u1', gatewayId: 'gw-1' });
    await stores.queue.append('gw-1', inbound('m1', 'u1'));
    await stores.queue.append('gw-1', { type: 'binding_resolved', externalUserId: 'u2', gatewayId: 'gw-1' });
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => ['u1']);
    await until(() => session.frames.length === 2, 'two frames');
    await settle();
    expect(session.frames).toStrictEqual([inbound('m1', 'u1'), { type: 'binding_resolved', externalUserId: 'u2', gatewayId: 'gw-1' }]);
  });

  it("a replayed user's message queued before their binding_resolved is delivered; the binding is not", async () => {
    const stores = sharedStores();
    await stores.queue.append('gw-1', inbound('m1', 'u1'));
    await stores.queue.append('gw-1', { type: 'binding_resolved', externalUserId: 'u1', gatewayId: 'gw-1' });
    await stores.queue.append('gw-1', inbound('m2', 'u1'));
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1');
    await node.attach(session, async () => ['u1']);
    await until(() => session.frames.length === 2, 'two frames');
    await settle();
    expect(session.frames).toStrictEqual([inbound('m1', 'u1'), inbound('m2', 'u1')]);
  });

  it('inlines media of inbound and servicer messages, and passes other events as they were queued', async () => {
    const stores = sharedStores();
    const node = await startNode('node-a', stores);
    const session = new FakeSession('gw-1', { features: ['session_events'] });
    await node.attach(session, async () => {});
    const image = { ...inbound('m1'), msgType: 'image', content: '', mediaId: 'pic' } as QueuedEvent;
    const servicer = { ...image, id: 'm2', type: 'servicer_message', servicerUserId: 'zhang' } as QueuedEvent;
    await node.enqueue('gw-1', image);
    await node.enqueue('gw-1', servicer);
    await node.enqueue('gw-1', { type: 'binding_resolved', externalUserId: 'u2', gatewayId: 'gw-1' });
    await until(() => session.frames.length === 3, 'three frames');
    const base64 = Buffer.from('img').toString('base64');
    expect(session.frames[0]).toMatchObject({ type: 'inbound', id: 'm1', mediaData: base64, mediaMime: 'image/png' });
    expect(session.frames[1]).toMatchObject({ type: 'servicer_message', id: 'm2', mediaData: base64, servicerUserId: 'zhang' });
    expect(session.frames[0]).not.toHaveProperty('mediaId');
    expect(session.frames[1]).not.toHaveProperty('mediaId');
    expect(session.frames[2]).toStrictEqual({ type: 'binding_resolved', externalUserId: 'u2', gatewayId: 'gw-1' });
  });
});

describe('drain: delivery metrics', () => {
  it('counts deliveries by route (local, or woken by another node) and observes their latency in seconds', async () => {
    let clock = 0;
    const stores = sharedStores();
    const metrics = createMetrics('node-a');
    const a = await startNode('node-a', stores, { metrics, now: () => clock });
    const b = await startNode('node-b', stores);
    await stores.presence.heartbeat('node-a', 3_600_000);
    const session = new FakeSession('gw-1');
    await a.attach(session, async () => {});
    await a.enqueue('gw-1', inbound('m1'));
    await until(() => session.frames.length === 1, 'm1');
    expect(await metricValue(metrics.deliveries, { route: 'local' })).toBe(1);
    expect(await metricValue(metrics.deliveries, { route: 'remote' })).toBe(0);
    await settle();
    // Enqueued by node-b: a's drain is woken over the bus.
    const appended = Date.now();
    clock = appended + 2_500;
    await b.enqueue('gw-1', inbound('m2'));
    await until(() => session.frames.length === 2, 'm2');
    expect(await metricValue(metrics.deliveries, { route: 'remote' })).toBe(1);
    // Appended at `appended` (or a few ms later), written at `clock`: about 2.5 s.
    const sum = await metricValue(metrics.deliveryLatency, { route: 'remote' }, 'relay_delivery_latency_seconds_sum');
    expect(sum).toBeCloseTo(2.5, 1);
    // The local delivery was written "before" it was appended on this clock: counted as 0, never negative.
    expect(await metricValue(metrics.deliveryLatency, { route: 'local' }, 'relay_delivery_latency_seconds_sum')).toBe(0);
    expect(await metricValue(metrics.deliveryLatency, { route: 'local' }, 'relay_delivery_latency_seconds_count')).toBe(1);
  });
});
