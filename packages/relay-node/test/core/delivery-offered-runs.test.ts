/**
 * Items a wake-up brings along (an AppendedRun), in process: written without reading the queue where nothing can sit
 * between the gateway's pointer and them, and read from the queue otherwise, so that none is lost, repeated or
 * reordered whatever order wake-ups and reads come in.
 */
import { describe, expect, it } from 'vitest';
import { AppendedRuns, MAX_OFFERED_ITEMS, offerRun, takeFromRun } from '../../src/delivery/appended-run.js';
import { GatewayDrain } from '../../src/delivery/gateway-drain.js';
import { LocalGateways } from '../../src/delivery/local-gateways.js';
import { MediaInliner } from '../../src/delivery/media-inliner.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { AppendedRun, QueuedItem } from '../../src/state/delivery-queue.js';
import { MemoryDeliveryQueue } from '../../src/state/memory/index.js';
import { Semaphore } from '../../src/util/semaphore.js';
import { FakeSession, inbound, localEntry, settle, silent } from './delivery-harness.js';

function item(id: string): QueuedItem {
  return { id, event: inbound(`m-${id}`), enqueuedAt: 1 };
}

function run(after: string | null, ...ids: string[]): AppendedRun {
  return { after, items: ids.map(item) };
}

describe('takeFromRun and offerRun', () => {
  it('serves a pointer at or past the run\'s after, skipping items up to the pointer, at most `limit` at a time', () => {
    expect(takeFromRun(run('5', '6', '7'), '5', 10)).toEqual({ items: [item('6'), item('7')], rest: null });
    // Items 3 and 4 were deleted (acknowledged) after being written: the pointer stands past the queue's last item.
    expect(takeFromRun(run('2', '6', '7'), '4', 10).items).toEqual([item('6'), item('7')]);
    expect(takeFromRun(run(null, '1', '2', '3'), '2', 10)).toEqual({ items: [item('3')], rest: null });
    expect(takeFromRun(run(null, '1', '2', '3'), null, 2)).toEqual({ items: [item('1'), item('2')], rest: run('2', '3') });
    // Stream ids order by their numbers, not as text.
    expect(takeFromRun(run('9-9', '10-0'), '9-10', 5).items).toEqual([item('10-0')]);
  });

  it('cannot serve a pointer behind the run\'s after, or one past all its items: the queue is read', () => {
    expect(takeFromRun(run('6', '7'), '5', 10)).toEqual({ items: null, rest: null });
    expect(takeFromRun(run('6', '7'), null, 10)).toEqual({ items: null, rest: null });
    expect(takeFromRun(run('5', '6', '7'), '7', 10)).toEqual({ items: null, rest: null });
  });

  it('joins a run that follows on, replaces one that does not, and holds at most MAX_OFFERED_ITEMS', () => {
    expect(offerRun(run('1', '2'), run('2', '3'))).toEqual(run('1', '2', '3'));
    expect(offerRun(run('1', '2'), run('5', '6'))).toEqual(run('5', '6'));
    expect(offerRun(null, run('5', '6'))).toEqual(run('5', '6'));
    const full = { after: null, items: Array.from({ length: MAX_OFFERED_ITEMS }, (_, i) => item(String(i + 1))) };
    expect(offerRun(full, run(String(MAX_OFFERED_ITEMS), String(MAX_OFFERED_ITEMS + 1)))).toBeNull();
  });
});

describe('AppendedRuns', () => {
  it('gives each gateway the run of what one step appended for it, in order, up to MAX_OFFERED_ITEMS', () => {
    const runs = new AppendedRuns();
    const at = (after: string | null) => ({ after, enqueuedAt: 1 });
    runs.add('gw-1', '3', inbound('a'), at('2'));
    runs.add('gw-2', '4', inbound('b'), at(null));
    runs.add('gw-1', '5', inbound('c'), at('3'));
    // Not following on (something of another's between): no run, the owner reads the queue.
    runs.add('gw-3', '6', inbound('d'), at(null));
    runs.add('gw-3', '8', inbound('e'), at('7'));
    // Not reported by the store: no run.
    runs.add('gw-4', '9', inbound('f'), undefined);
    for (let i = 0; i <= MAX_OFFERED_ITEMS; i++) runs.add('gw-5', String(100 + i), inbound(`g${i}`), at(i === 0 ? null : String(99 + i)));
    const complete = runs.complete();
    expect([...complete.keys()]).toEqual(['gw-1', 'gw-2']);
    expect(complete.get('gw-1')).toEqual({ after: '2', items: [{ id: '3', event: inbound('a'), enqueuedAt: 1 }, { id: '5', event: inbound('c'), enqueuedAt: 1 }] });
  });
});

/** A drain over a memory queue that counts its reads, with one gateway attached and ready. */
function fixture(delivery: 'legacy' | 'ack' = 'legacy', ackWindow = 100) {
  const queue = new MemoryDeliveryQueue();
  let reads = 0;
  const counted = Object.assign(Object.create(queue) as MemoryDeliveryQueue, {
    readAfter: async (gatewayId: string, after: string | null, limit: number) => {
      reads++;
      return await queue.readAfter(gatewayId, after, limit);
    },
  });
  const local = new LocalGateways(createMetrics('node-a'));
  const session = new FakeSession('gw-1', { delivery });
  const entry = localEntry(session);
  local.add(entry);
  const media = new MediaInliner({ source: { download: async () => ({ data: Buffer.from(''), mime: 'image/png' }) }, maxBytes: 1, transfers: new Semaphore(1), logger: silent });
  const drain = new GatewayDrain({ queue: counted, local, media, metrics: createMetrics('node-a'), logger: silent, now: Date.now, ackWindow });
  /** Appends to the queue and returns the run a wake-up would carry: the new items after the queue's last one. */
  async function append(...ids: string[]): Promise<AppendedRun> {
    const before = await queue.readAfter('gw-1', null, 1000);
    const appended: QueuedItem[] = [];
    for (const id of ids) {
      const event = inbound(id);
      appended.push({ id: await queue.append('gw-1', event), event, enqueuedAt: 1 });
    }
    return { after: before.at(-1)?.id ?? (await queue.lastAcked('gw-1')), items: appended };
  }
  return { queue, session, entry, drain, append, reads: () => reads };
}

describe('a drain offered the items a wake-up brought along', () => {
  it('writes them without reading the queue, page after page', async () => {
    const { session, drain, append, reads } = fixture();
    for (let page = 0; page < 3; page++) {
      drain.offer('gw-1', await append(`a-${page}`, `b-${page}`));
      await settle();
    }
    expect(session.inboundIds()).toEqual(['a-0', 'b-0', 'a-1', 'b-1', 'a-2', 'b-2']);
    expect(reads()).toBe(0);
  });

  it('reads the queue when something sits between the pointer and the run, and writes everything once, in order', async () => {
    const { session, drain, append, reads } = fixture();
    // The first append's wake-up was lost: the second run follows an item never written.
    await append('lost');
    drain.offer('gw-1', await append('next'));
    await settle();
    expect(session.inboundIds()).toEqual(['lost', 'next']);
    expect(reads()).toBeGreaterThan(0);
  });

  it('loses and repeats nothing when two pages\' wake-ups arrive in the opposite order', async () => {
    const { session, drain, append } = fixture('ack');
    const first = await append('p1-a', 'p1-b');
    const second = await append('p2-a');
    drain.offer('gw-1', second);
    drain.offer('gw-1', first);
    await settle();
    expect(session.inboundIds()).toEqual(['p1-a', 'p1-b', 'p2-a']);
    // Acknowledged, the queue holds nothing more; a late copy of either wake-up writes nothing again.
    drain.offer('gw-1', first);
    drain.offer('gw-1', second);
    await settle();
    expect(session.inboundIds()).toEqual(['p1-a', 'p1-b', 'p2-a']);
  });

  it('writes a run offered while a read is in flight once: the read had the items already', async () => {
    const { session, drain, append } = fixture();
    const run = await append('x', 'y');
    drain.schedule('gw-1');
    drain.offer('gw-1', run);
    await settle();
    expect(session.inboundIds()).toEqual(['x', 'y']);
  });

  it('takes a long run a window at a time: ack mode waits for room, then goes on from the run', async () => {
    const { session, entry, drain, append, reads } = fixture('ack', 2);
    drain.offer('gw-1', await append('1', '2', '3', '4', '5'));
    await settle();
    expect(session.inboundIds()).toEqual(['1', '2']);
    await drain.acknowledge(entry, session.frames[1]!.deliveryId!);
    await settle();
    await drain.acknowledge(entry, session.frames[3]!.deliveryId!);
    await settle();
    expect(session.inboundIds()).toEqual(['1', '2', '3', '4', '5']);
    expect(reads()).toBe(0);
  });

  it('reads the queue after a redeliver moves the pointer back behind the run', async () => {
    const { session, drain, append, reads } = fixture('ack');
    drain.offer('gw-1', await append('r1', 'r2'));
    await settle();
    expect(await drain.redeliver('gw-1', null)).toEqual({ result: 'scheduled', after: null });
    drain.offer('gw-1', await append('r3'));
    await settle();
    expect(session.inboundIds()).toEqual(['r1', 'r2', 'r1', 'r2', 'r3']);
    expect(reads()).toBeGreaterThan(0);
  });
});
