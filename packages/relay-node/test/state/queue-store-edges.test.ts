import type { QueuedEvent } from '@wecom-relay/shared';
import { describe, expect, it } from 'vitest';
import { DEFAULT_QUEUE_DEDUP_TTL_MS, queueDedupOf, type DeliveryQueue } from '../../src/state/delivery-queue.js';
import { MemoryDeliveryQueue } from '../../src/state/memory/index.js';
import { SqliteDeliveryQueue } from '../../src/state/sqlite/index.js';
import { manualClock, sqliteFiles } from './store-edges-kit.js';

const files = sqliteFiles('queue-store-edges-');
const DAY_MS = 86_400_000;

/** A sample event. */
function event(n: number): QueuedEvent {
  return { type: 'inbound', id: `msg-${n}`, externalUserId: 'wm-a', msgType: 'text', content: `hello ${n}`, timestamp: 1_700_000_000 + n, wecomMsgType: 'text' };
}

const backends: Array<[string, (now: () => number) => DeliveryQueue]> = [
  ['memory', (now) => new MemoryDeliveryQueue({ now })],
  ['sqlite', (now) => new SqliteDeliveryQueue(files.fresh(), { now })],
];

describe.each(backends)('DeliveryQueue edges: %s', (_name, make) => {
  it('a dedup key is remembered until exactly its ttl has passed', async () => {
    const clock = manualClock();
    const queue = make(clock.now);
    expect(await queue.append('gw-1', event(1), { dedupKey: 'k', dedupTtlMs: 1_000 })).not.toBeNull();
    clock.advance(999);
    expect(await queue.append('gw-1', event(1), { dedupKey: 'k', dedupTtlMs: 1_000 })).toBeNull();
    clock.advance(1);
    expect(await queue.append('gw-1', event(1), { dedupKey: 'k', dedupTtlMs: 1_000 })).not.toBeNull();
  });

  it('without a ttl a key is remembered 4 days; a longer ttl is honoured (up to a century)', async () => {
    expect(DEFAULT_QUEUE_DEDUP_TTL_MS).toBe(4 * DAY_MS);
    const clock = manualClock();
    const queue = make(clock.now);
    await queue.append('gw-1', event(1), { dedupKey: 'default' });
    await queue.append('gw-1', event(2), { dedupKey: 'year', dedupTtlMs: 365 * DAY_MS });
    clock.advance(4 * DAY_MS - 1);
    expect(await queue.append('gw-1', event(1), { dedupKey: 'default' })).toBeNull();
    clock.advance(1);
    expect(await queue.append('gw-1', event(1), { dedupKey: 'default' })).not.toBeNull();
    clock.advance(360 * DAY_MS);
    expect(await queue.append('gw-1', event(2), { dedupKey: 'year', dedupTtlMs: 365 * DAY_MS })).toBeNull();
    clock.advance(DAY_MS);
    expect(await queue.append('gw-1', event(2), { dedupKey: 'year', dedupTtlMs: 365 * DAY_MS })).not.toBeNull();
  });

  it('a zero or negative limit reads nothing', async () => {
    const queue = make(Date.now);
    for (let n = 1; n <= 3; n += 1) await queue.append('gw-1', event(n));
    expect(await queue.readAfter('gw-1', null, 0)).toEqual([]);
    expect(await queue.readAfter('gw-1', null, -1)).toEqual([]);
    expect(await queue.readAfter('gw-1', null, 2)).toHaveLength(2);
  });

  it('each ack moves the pointer further forward and drops what it covers', async () => {
    const queue = make(Date.now);
    const ids: string[] = [];
    for (let n = 1; n <= 4; n += 1) ids.push(await queue.append('gw-1', event(n)));
    await queue.ack('gw-1', ids[0]!);
    await queue.ack('gw-1', ids[2]!);
    expect(await queue.lastAcked('gw-1')).toBe(ids[2]);
    expect((await queue.readAfter('gw-1', null, 10)).map((item) => item.id)).toEqual([ids[3]]);
    expect(await queue.backlog('gw-1')).toMatchObject({ items: 1 });
    // The same id again changes nothing.
    await queue.ack('gw-1', ids[2]!);
    expect(await queue.lastAcked('gw-1')).toBe(ids[2]);
  });

  it('refuses a dedupKey that is not a string and a ttl that is not a number, saying which', async () => {
    const queue = make(Date.now);
    await expect(queue.append('gw-1', event(1), { dedupKey: 42 as unknown as string })).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'dedupKey must be a string',
      details: { dedupKeyType: 'number' },
    });
    await expect(queue.append('gw-1', event(1), { dedupKey: 'k', dedupTtlMs: '1000' as unknown as number })).rejects.toMatchObject({
      code: 'INTERNAL',
      message: 'dedupTtlMs must be a positive number of milliseconds',
      details: { dedupTtlMs: '1000' },
    });
    expect(await queue.readAfter('gw-1', null, 10)).toEqual([]);
  });
});

describe('queueDedupOf', () => {
  it('passes a key on with its ttl rounded up to whole milliseconds, and caps the ttl at a century', () => {
    expect(queueDedupOf(undefined)).toBeNull();
    expect(queueDedupOf({ dedupKey: '' })).toBeNull();
    expect(queueDedupOf({ dedupKey: 'k' })).toEqual({ key: 'k', ttlMs: 4 * DAY_MS });
    expect(queueDedupOf({ dedupKey: 'k', dedupTtlMs: 1.2 })).toEqual({ key: 'k', ttlMs: 2 });
    expect(queueDedupOf({ dedupKey: 'k', dedupTtlMs: 1e300 })).toEqual({ key: 'k', ttlMs: 100 * 365 * DAY_MS });
    expect(() => queueDedupOf({ dedupKey: 'k', dedupTtlMs: 0 })).toThrow(expect.objectContaining({ details: { dedupTtlMs: '0' } }));
  });
});

describe('expired dedup keys do not pile up', () => {
  it('memory: swept out once per interval, empty gateways forgotten, live keys kept', async () => {
    const clock = manualClock();
    const queue = new MemoryDeliveryQueue({ now: clock.now, sweepIntervalMs: 1_000 });
    const keys = (queue as unknown as { dedupKeys: Map<string, Map<string, number>> }).dedupKeys;
    await queue.append('gw-1', event(1), { dedupKey: 'short', dedupTtlMs: 100 });
    await queue.append('gw-2', event(2), { dedupKey: 'other', dedupTtlMs: 100 });
    clock.advance(500);
    await queue.append('gw-1', event(3), { dedupKey: 'ends-at-sweep', dedupTtlMs: 500 });
    await queue.append('gw-1', event(4), { dedupKey: 'live', dedupTtlMs: DAY_MS });
    // Within the interval nothing is swept, expired or not.
    expect([...keys.get('gw-1')!.keys()].sort()).toEqual(['ends-at-sweep', 'live', 'short']);
    expect(keys.has('gw-2')).toBe(true);
    clock.advance(500);
    await queue.append('gw-3', event(5), { dedupKey: 'new', dedupTtlMs: 100 });
    expect([...keys.get('gw-1')!.keys()]).toEqual(['live']);
    expect(keys.has('gw-2')).toBe(false);
    expect(await queue.append('gw-1', event(4), { dedupKey: 'live', dedupTtlMs: DAY_MS })).toBeNull();
  });

  it('memory: by default swept once a minute', async () => {
    const clock = manualClock();
    const queue = new MemoryDeliveryQueue({ now: clock.now });
    const keys = (queue as unknown as { dedupKeys: Map<string, Map<string, number>> }).dedupKeys;
    await queue.append('gw-1', event(1), { dedupKey: 'short', dedupTtlMs: 100 });
    clock.advance(59_999);
    await queue.append('gw-2', event(2), { dedupKey: 'k' });
    expect(keys.has('gw-1')).toBe(true);
    clock.advance(1);
    await queue.append('gw-2', event(3), { dedupKey: 'k2' });
    expect(keys.has('gw-1')).toBe(false);
  });

  it('sqlite: expired rows deleted once per interval, live ones kept', async () => {
    const clock = manualClock();
    const db = files.fresh();
    const queue = new SqliteDeliveryQueue(db, { now: clock.now, pruneIntervalMs: 1_000 });
    const rows = () => (db.prepare('SELECT dedup_key AS key FROM delivery_dedup ORDER BY dedup_key').all() as Array<{ key: string }>).map((r) => r.key);
    await queue.append('gw-1', event(1), { dedupKey: 'a-short', dedupTtlMs: 100 });
    clock.advance(500);
    await queue.append('gw-1', event(2), { dedupKey: 'b-ends-at-prune', dedupTtlMs: 500 });
    await queue.append('gw-1', event(3), { dedupKey: 'c-live', dedupTtlMs: DAY_MS });
    expect(rows()).toEqual(['a-short', 'b-ends-at-prune', 'c-live']);
    clock.advance(500);
    await queue.append('gw-1', event(4), { dedupKey: 'd-new', dedupTtlMs: 100 });
    expect(rows()).toEqual(['c-live', 'd-new']);
  });

  it('sqlite: by default pruned once a minute, the first time on the first keyed append', async () => {
    const clock = manualClock();
    const db = files.fresh();
    const rows = () => (db.prepare('SELECT dedup_key AS key FROM delivery_dedup ORDER BY dedup_key').all() as Array<{ key: string }>).map((r) => r.key);
    db.prepare('INSERT INTO delivery_dedup (gateway_id, dedup_key, expires_at) VALUES (?, ?, ?)').run('gw-1', 'left-over', clock.now() - 1);
    const queue = new SqliteDeliveryQueue(db, { now: clock.now });
    await queue.append('gw-1', event(1), { dedupKey: 'a', dedupTtlMs: 100 });
    expect(rows()).toEqual(['a']);
    clock.advance(59_999);
    await queue.append('gw-1', event(2), { dedupKey: 'b', dedupTtlMs: 1_000 });
    expect(rows()).toEqual(['a', 'b']);
    clock.advance(1);
    await queue.append('gw-1', event(3), { dedupKey: 'c', dedupTtlMs: 100 });
    expect(rows()).toEqual(['b', 'c']);
  });
});
