import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { QueuedEvent } from '@wecom-relay/shared';
import type { DeliveryQueue } from '../../../src/state/index.js';
import { LONG_TTL_MS, PAST_SHORT_TTL_MS, SHORT_TTL_MS, tracked } from './contract-helpers.js';

/** Sample queue events of both kinds. */
export function inbound(n: number): QueuedEvent {
  return {
    type: 'inbound',
    id: `msg-${n}`,
    externalUserId: 'wm-alice',
    msgType: 'text',
    content: `hello ${n}`,
    timestamp: 1_700_000_000 + n,
    wecomMsgType: 'text',
  };
}
const RESOLVED: QueuedEvent = { type: 'binding_resolved', externalUserId: 'wm-alice', gatewayId: 'gw-1' };
const NO_AGE_LIMIT = 24 * 3600_000;

/** DeliveryQueue: per-gateway ordered queues with paging, a delivered pointer, bounded size and idempotent appends. */
export function deliveryQueueContract(name: string, make: () => Promise<DeliveryQueue>): void {
  describe(`DeliveryQueue contract: ${name}`, () => {
    const fresh = tracked(make);

    it('an unknown gateway has an empty queue and no acked id', async () => {
      const queue = await fresh();
      expect(await queue.readAfter('gw-1', null, 10)).toEqual([]);
      expect(await queue.lastAcked('gw-1')).toBeNull();
      expect(await queue.trim('gw-1', { maxAgeMs: 0, maxItems: 0 })).toBe(0);
    });

    it('keeps append order and returns what was appended', async () => {
      const queue = await fresh();
      const before = Date.now();
      const ids = [await queue.append('gw-1', inbound(1)), await queue.append('gw-1', RESOLVED), await queue.append('gw-1', inbound(3))];
      expect(new Set(ids).size).toBe(3);
      const items = await queue.readAfter('gw-1', null, 10);
      expect(items.map((item) => item.id)).toEqual(ids);
      expect(items.map((item) => item.event)).toEqual([inbound(1), RESOLVED, inbound(3)]);
      for (const item of items) {
        expect(item.enqueuedAt).toBeGreaterThanOrEqual(before - 1000);
        expect(item.enqueuedAt).toBeLessThanOrEqual(Date.now() + 1000);
      }
    });

    it('reports its backlog: what waits after acks and trims, and when the oldest of it was appended', async () => {
      const queue = await fresh();
      expect(await queue.backlog('gw-1')).toEqual({ items: 0, oldestEnqueuedAt: null });
      const ids: string[] = [];
      for (let n = 1; n <= 4; n += 1) ids.push(await queue.append('gw-1', inbound(n)));
      await queue.append('gw-2', RESOLVED);
      const items = await queue.readAfter('gw-1', null, 10);
      expect(await queue.backlog('gw-1')).toEqual({ items: 4, oldestEnqueuedAt: items[0]!.enqueuedAt });
      await queue.ack('gw-1', ids[1]!);
      expect(await queue.backlog('gw-1')).toEqual({ items: 2, oldestEnqueuedAt: items[2]!.enqueuedAt });
      await queue.trim('gw-1', { maxAgeMs: NO_AGE_LIMIT, maxItems: 1 });
      expect(await queue.backlog('gw-1')).toEqual({ items: 1, oldestEnqueuedAt: items[3]!.enqueuedAt });
      expect((await queue.backlog('gw-2')).items).toBe(1);
    });

    it('pages with readAfter and limit', async () => {
      const queue = await fresh();
      const ids: string[] = [];
      for (let n = 1; n <= 5; n += 1) ids.push(await queue.append('gw-1', inbound(n)));
      const page1 = await queue.readAfter('gw-1', null, 2);
      expect(page1.map((item) => item.id)).toEqual(ids.slice(0, 2));
      const page2 = await queue.readAfter('gw-1', page1.at(-1)!.id, 2);
      expect(page2.map((item) => item.id)).toEqual(ids.slice(2, 4));
      const page3 = await queue.readAfter('gw-1', page2.at(-1)!.id, 2);
      expect(page3.map((item) => item.id)).toEqual(ids.slice(4));
      expect(await queue.readAfter('gw-1', ids[4]!, 2)).toEqual([]);
    });

    it('after ack, reading after lastAcked skips what was delivered', async () => {
      const queue = await fresh();
      const ids: string[] = [];
      for (let n = 1; n <= 4; n += 1) ids.push(await queue.append('gw-1', inbound(n)));
      await queue.ack('gw-1', ids[1]!);
      expect(await queue.lastAcked('gw-1')).toBe(ids[1]);
      const rest = await queue.readAfter('gw-1', await queue.lastAcked('gw-1'), 10);
      expect(rest.map((item) => item.event)).toEqual([inbound(3), inbound(4)]);
    });

    it('the acked pointer never moves back', async () => {
      const queue = await fresh();
      const ids: string[] = [];
      for (let n = 1; n <= 3; n += 1) ids.push(await queue.append('gw-1', inbound(n)));
      await queue.ack('gw-1', ids[2]!);
      await queue.ack('gw-1', ids[0]!);
      expect(await queue.lastAcked('gw-1')).toBe(ids[2]);
      expect(await queue.readAfter('gw-1', await queue.lastAcked('gw-1'), 10)).toEqual([]);
    });

    it('items appended after everything was acked still come after the acked id', async () => {
      const queue = await fresh();
      const first = await queue.append('gw-1', inbound(1));
      await queue.ack('gw-1', first);
      const later = await queue.append('gw-1', inbound(2));
      const items = await queue.readAfter('gw-1', await queue.lastAcked('gw-1'), 10);
      expect(items.map((item) => item.id)).toEqual([later]);
    });

    it('trims by count, dropping the oldest, and reports how many went', async () => {
      const queue = await fresh();
      for (let n = 1; n <= 5; n += 1) await queue.append('gw-1', inbound(n));
      expect(await queue.trim('gw-1', { maxAgeMs: NO_AGE_LIMIT, maxItems: 2 })).toBe(3);
      const kept = await queue.readAfter('gw-1', null, 10);
      expect(kept.map((item) => item.event)).toEqual([inbound(4), inbound(5)]);
      expect(await queue.trim('gw-1', { maxAgeMs: NO_AGE_LIMIT, maxItems: 2 })).toBe(0);
    });

    it('trims by age and reports how many went', async () => {
      const queue = await fresh();
      await queue.append('gw-1', inbound(1));
      await queue.append('gw-1', inbound(2));
      await sleep(PAST_SHORT_TTL_MS);
      const young = await queue.append('gw-1', inbound(3));
      expect(await queue.trim('gw-1', { maxAgeMs: SHORT_TTL_MS, maxItems: 1000 })).toBe(2);
      const kept = await queue.readAfter('gw-1', null, 10);
      expect(kept.map((item) => item.id)).toEqual([young]);
    });

    it('keeps gateways apart: reads, acks and trims touch one gateway only', async () => {
      const queue = await fresh();
      const a1 = await queue.append('gw-a', inbound(1));
      const b1 = await queue.append('gw-b', inbound(2));
      const a2 = await queue.append('gw-a', inbound(3));
      const b2 = await queue.append('gw-b', inbound(4));
      expect((await queue.readAfter('gw-a', null, 10)).map((item) => item.id)).toEqual([a1, a2]);
      expect((await queue.readAfter('gw-b', null, 10)).map((item) => item.id)).toEqual([b1, b2]);
      await queue.ack('gw-a', a2);
      expect(await queue.lastAcked('gw-b')).toBeNull();
      expect((await queue.readAfter('gw-b', null, 10)).map((item) => item.id)).toEqual([b1, b2]);
      expect(await queue.trim('gw-b', { maxAgeMs: NO_AGE_LIMIT, maxItems: 0 })).toBe(2);
      expect(await queue.readAfter('gw-b', null, 10)).toEqual([]);
      expect(await queue.lastAcked('gw-a')).toBe(a2);
    });

    it('appends an event only once per dedupKey: the repeat resolves to null and nothing more is queued', async () => {
      const queue = await fresh();
      const first = await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1' });
      expect(first).toEqual(expect.any(String));
      expect(await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1' })).toBeNull();
      // The key alone decides, not the event's content.
      expect(await queue.append('gw-1', inbound(2), { dedupKey: 'msg-1', dedupTtlMs: LONG_TTL_MS })).toBeNull();
      const items = await queue.readAfter('gw-1', null, 10);
      expect(items.map((item) => [item.id, item.event])).toEqual([[first, inbound(1)]]);
    });

    it('different dedupKeys, and appends without one, all append', async () => {
      const queue = await fresh();
      const ids = [
        await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1' }),
        await queue.append('gw-1', inbound(2), { dedupKey: 'msg-2' }),
        await queue.append('gw-1', inbound(3)),
        await queue.append('gw-1', inbound(3)),
        // An empty key is no key: events lacking an id must not swallow each other.
        await queue.append('gw-1', inbound(4), { dedupKey: '' }),
        await queue.append('gw-1', inbound(4), { dedupKey: '' }),
      ];
      expect(ids).not.toContain(null);
      expect(new Set(ids).size).toBe(6);
      expect((await queue.readAfter('gw-1', null, 10)).map((item) => item.id)).toEqual(ids);
    });

    it('the same dedupKey on different gateways appends to each', async () => {
      const queue = await fresh();
      const a = await queue.append('gw-a', inbound(1), { dedupKey: 'msg-1' });
      const b = await queue.append('gw-b', inbound(1), { dedupKey: 'msg-1' });
      expect(a).not.toBeNull();
      expect(b).not.toBeNull();
      expect((await queue.readAfter('gw-a', null, 10)).map((item) => item.id)).toEqual([a]);
      expect((await queue.readAfter('gw-b', null, 10)).map((item) => item.id)).toEqual([b]);
      expect(await queue.append('gw-b', inbound(1), { dedupKey: 'msg-1' })).toBeNull();
    });

    it('after dedupTtlMs the same key appends again', async () => {
      const queue = await fresh();
      const first = await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1', dedupTtlMs: SHORT_TTL_MS });
      expect(await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1', dedupTtlMs: SHORT_TTL_MS })).toBeNull();
      await sleep(PAST_SHORT_TTL_MS);
      const again = await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1', dedupTtlMs: SHORT_TTL_MS });
      expect(again).not.toBeNull();
      expect((await queue.readAfter('gw-1', null, 10)).map((item) => item.id)).toEqual([first, again]);
      // The re-append starts a fresh ttl.
      expect(await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1', dedupTtlMs: SHORT_TTL_MS })).toBeNull();
    });

    it('without a dedupTtlMs a key is remembered well beyond a short ttl', async () => {
      const queue = await fresh();
      expect(await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1' })).not.toBeNull();
      await sleep(PAST_SHORT_TTL_MS);
      expect(await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1' })).toBeNull();
    });

    it('a key whose item was acked and trimmed away is still refused within the ttl', async () => {
      const queue = await fresh();
      const first = await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1', dedupTtlMs: LONG_TTL_MS });
      const second = await queue.append('gw-1', inbound(2), { dedupKey: 'msg-2', dedupTtlMs: LONG_TTL_MS });
      await queue.ack('gw-1', first!);
      await queue.trim('gw-1', { maxAgeMs: NO_AGE_LIMIT, maxItems: 0 });
      expect(await queue.readAfter('gw-1', null, 10)).toEqual([]);
      expect(await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1', dedupTtlMs: LONG_TTL_MS })).toBeNull();
      expect(await queue.append('gw-1', inbound(2), { dedupKey: 'msg-2', dedupTtlMs: LONG_TTL_MS })).toBeNull();
      expect(await queue.readAfter('gw-1', null, 10)).toEqual([]);
      expect(await queue.lastAcked('gw-1')).toBe(first);
      expect(second).not.toBeNull();
    });

    it('20 concurrent appends with one dedupKey append exactly once', async () => {
      const queue = await fresh();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) => queue.append('gw-1', inbound(n), { dedupKey: 'msg-race', dedupTtlMs: LONG_TTL_MS })),
      );
      const ids = results.filter((id): id is string => id !== null);
      expect(ids).toHaveLength(1);
      const items = await queue.readAfter('gw-1', null, 50);
      expect(items.map((item) => item.id)).toEqual(ids);
    });

    it('appendMany appends a batch in order, each id after the one before, and reads back like single appends', async () => {
      const queue = await fresh();
      const single = await queue.append('gw-1', inbound(0));
      const ids = await queue.appendMany('gw-1', [
        { event: inbound(1), options: { dedupKey: 'msg-1' } },
        { event: RESOLVED },
        { event: inbound(3), options: { dedupKey: 'msg-3' } },
      ]);
      expect(ids).toHaveLength(3);
      expect(ids).not.toContain(null);
      const items = await queue.readAfter('gw-1', null, 10);
      expect(items.map((item) => item.id)).toEqual([single, ...ids]);
      expect(items.map((item) => item.event)).toEqual([inbound(0), inbound(1), RESOLVED, inbound(3)]);
      expect(await queue.appendMany('gw-1', [])).toEqual([]);
    });

    it('appendMany keeps dedup per key inside the batch and across batches and single appends', async () => {
      const queue = await fresh();
      const first = await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1' });
      const ids = await queue.appendMany('gw-1', [
        { event: inbound(1), options: { dedupKey: 'msg-1' } },
        { event: inbound(2), options: { dedupKey: 'msg-2' } },
        { event: inbound(2), options: { dedupKey: 'msg-2' } },
        { event: inbound(5), options: { dedupKey: '' } },
        { event: inbound(5), options: { dedupKey: '' } },
      ]);
      expect(ids[0]).toBeNull();
      expect(ids[1]).toEqual(expect.any(String));
      expect(ids[2]).toBeNull();
      expect(ids[3]).toEqual(expect.any(String));
      expect(ids[4]).toEqual(expect.any(String));
      // A re-pulled page: the same batch again appends nothing, even after the first copies were acked and trimmed.
      await queue.ack('gw-1', ids[4]!);
      await queue.trim('gw-1', { maxAgeMs: NO_AGE_LIMIT, maxItems: 0 });
      const again = await queue.appendMany('gw-1', [
        { event: inbound(1), options: { dedupKey: 'msg-1' } },
        { event: inbound(2), options: { dedupKey: 'msg-2' } },
      ]);
      expect(again).toEqual([null, null]);
      expect(await queue.append('gw-1', inbound(2), { dedupKey: 'msg-2' })).toBeNull();
      expect(await queue.readAfter('gw-1', null, 10)).toEqual([]);
      // The same keys on another gateway are that gateway's own.
      expect(await queue.appendMany('gw-2', [{ event: inbound(1), options: { dedupKey: 'msg-1' } }])).toEqual([expect.any(String)]);
      expect(first).not.toBeNull();
    });

    it('concurrent appendMany batches sharing a key append it once', async () => {
      const queue = await fresh();
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, n) =>
          queue.appendMany('gw-1', [
            { event: inbound(n), options: { dedupKey: `own-${n}`, dedupTtlMs: LONG_TTL_MS } },
            { event: inbound(99), options: { dedupKey: 'shared', dedupTtlMs: LONG_TTL_MS } },
          ]),
        ),
      );
      expect(results.filter((ids) => ids[1] !== null)).toHaveLength(1);
      expect(results.every((ids) => ids[0] !== null)).toBe(true);
      expect(await queue.readAfter('gw-1', null, 50)).toHaveLength(11);
    });

    it('with dedupAt, a key is refused within and across batches and single appends, and an older marker without it still counts', async () => {
      const queue = await fresh();
      const at = 1_700_000_000;
      const old = await queue.append('gw-1', inbound(0), { dedupKey: 'msg-0' });
      const ids = await queue.appendMany('gw-1', [
        { event: inbound(0), options: { dedupKey: 'msg-0', dedupAt: at } },
        { event: inbound(1), options: { dedupKey: 'msg-1', dedupAt: at } },
        { event: inbound(1), options: { dedupKey: 'msg-1', dedupAt: at } },
        { event: inbound(2), options: { dedupKey: 'msg-2', dedupAt: at + 7200 } },
      ]);
      expect(ids.map((id) => id !== null)).toEqual([false, true, false, true]);
      expect(await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1', dedupAt: at })).toBeNull();
      expect(await queue.append('gw-1', inbound(2), { dedupKey: 'msg-2', dedupAt: at + 7200 })).toBeNull();
      await queue.ack('gw-1', ids[3]!);
      await queue.trim('gw-1', { maxAgeMs: NO_AGE_LIMIT, maxItems: 0 });
      expect(await queue.appendMany('gw-1', [{ event: inbound(1), options: { dedupKey: 'msg-1', dedupAt: at } }])).toEqual([null]);
      // Another gateway's keys are its own.
      expect(await queue.append('gw-2', inbound(1), { dedupKey: 'msg-1', dedupAt: at })).not.toBeNull();
      expect(old).not.toBeNull();
    });

    it('appendMany with a malformed dedupTtlMs appends nothing of the batch', async () => {
      const queue = await fresh();
      await expect(
        queue.appendMany('gw-1', [
          { event: inbound(1), options: { dedupKey: 'msg-1' } },
          { event: inbound(2), options: { dedupKey: 'msg-2', dedupTtlMs: -1 } },
        ]),
      ).rejects.toMatchObject({ code: expect.any(String) });
      expect(await queue.readAfter('gw-1', null, 10)).toEqual([]);
      expect(await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1' })).not.toBeNull();
    });

    it('refuses a malformed dedupTtlMs with a coded error and appends nothing', async () => {
      const queue = await fresh();
      for (const bad of [0, -1, Number.NaN]) {
        await expect(queue.append('gw-1', inbound(1), { dedupKey: 'msg-1', dedupTtlMs: bad })).rejects.toMatchObject({
          code: expect.any(String),
        });
      }
      expect(await queue.readAfter('gw-1', null, 10)).toEqual([]);
      expect(await queue.append('gw-1', inbound(1), { dedupKey: 'msg-1' })).not.toBeNull();
    });

    it('rejects an id it never issued with a coded error instead of crashing or misreading', async () => {
      const queue = await fresh();
      await queue.append('gw-1', inbound(1));
      for (const bad of ['not-an-id', '', '../../etc', '1e9999', '-1']) {
        await expect(queue.readAfter('gw-1', bad, 10)).rejects.toMatchObject({ code: expect.any(String) });
        await expect(queue.ack('gw-1', bad)).rejects.toMatchObject({ code: expect.any(String) });
      }
      expect(await queue.lastAcked('gw-1')).toBeNull();
      expect(await queue.readAfter('gw-1', null, 10)).toHaveLength(1);
    });
  });
}
