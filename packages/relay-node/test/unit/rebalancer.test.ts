import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Rebalancer, countedLoads, shedCount, type SeenLoad } from '../../src/delivery/rebalancer.js';
import type { NodeLoad } from '../../src/state/presence-map.js';
import { MemoryPresenceMap } from '../../src/state/memory/index.js';
import { manualClock } from '../state/store-edges-kit.js';

const settings = { maxPerInterval: 5, tolerancePercent: 20 };

/** node-a's rebalancer over `presence`, recording every shed it asks for in `asked`. */
function rebalancerOf(presence: MemoryPresenceMap, localCount: () => number, now?: () => number): { rebalancer: Rebalancer; asked: number[] } {
  const asked: number[] = [];
  const rebalancer = new Rebalancer({
    ...settings,
    intervalMs: 10_000,
    nodeId: 'node-a',
    presence,
    localCount,
    ...(now ? { now } : {}),
    shed: (n) => {
      asked.push(n);
      return n;
    },
    logger: pino({ level: 'silent' }),
  });
  return { rebalancer, asked };
}

describe('rebalancing', () => {
  it('sheds only above the average plus tolerance, down to the rounded-up average, bounded per interval', () => {
    // A third node joins two holding 30 each: average 20, tolerance up to 24.
    expect(shedCount(30, [30, 30, 0], settings)).toBe(5);
    expect(shedCount(30, [30, 30, 0], { ...settings, maxPerInterval: 100 })).toBe(10);
    expect(shedCount(0, [30, 30, 0], settings)).toBe(0);
    expect(shedCount(24, [24, 24, 12], settings)).toBe(0);
    expect(shedCount(25, [25, 23, 12], settings)).toBe(5);
    // Small clusters: 2 vs 1 is as fair as it gets.
    expect(shedCount(2, [2, 1], settings)).toBe(0);
    expect(shedCount(4, [4, 1, 1], { ...settings, tolerancePercent: 0 })).toBe(2);
    // Alone, or turned off: never.
    expect(shedCount(100, [100], settings)).toBe(0);
    expect(shedCount(30, [30, 0], { ...settings, maxPerInterval: 0 })).toBe(0);
  });

  it('compares its own live count with the other nodes’ heartbeat data', async () => {
    const presence = new MemoryPresenceMap();
    for (const node of ['node-a', 'node-b', 'node-c']) await presence.heartbeat(node, 60_000);
    for (let i = 0; i < 9; i++) await presence.claim(`gw-b-${i}`, 'node-b');
    const { rebalancer, asked } = rebalancerOf(presence, () => 12);
    // Loads 12 (own, live), 9, 0: average 7, tolerance 8.4: close 5 (of the 5 above 7).
    expect(await rebalancer.tick()).toBe(5);
    expect(asked).toEqual([5]);
  });

  it('leaves out a node whose last beat is more than two beats old, though it is still live', async () => {
    const clock = manualClock();
    const presence = new MemoryPresenceMap({ now: clock.now });
    for (const node of ['node-a', 'node-b', 'node-c']) await presence.heartbeat(node, 15_000);
    for (let i = 0; i < 15; i++) await presence.claim(`gw-b-${i}`, 'node-b');
    const { rebalancer, asked } = rebalancerOf(presence, () => 15);
    // node-c, killed, beat 10 s ago (two beats of 5 s): it still counts. Loads 15, 15, 0: average 10: close 5.
    clock.advance(10_000);
    for (const node of ['node-a', 'node-b']) await presence.heartbeat(node, 15_000);
    expect(await rebalancer.tick()).toBe(5);
    // A moment later it no longer does, though its ttl has 5 s to run: loads 15, 15: nothing to close.
    clock.advance(1);
    expect((await presence.liveNodes()).map((n) => n.nodeId)).toEqual(['node-a', 'node-b', 'node-c']);
    expect(await rebalancer.tick()).toBe(0);
    expect(asked).toEqual([5]);
  });

  it('does not shed toward a node that is losing its gateways while its last beat still looks recent', async () => {
    // A node killed outright: its beat stays recent for two beats while its gateways reconnect to the others.
    const clock = manualClock();
    const presence = new MemoryPresenceMap({ now: clock.now });
    const beat = async (nodes: string[]): Promise<void> => {
      for (const node of nodes) await presence.heartbeat(node, 15_000);
    };
    await beat(['node-a', 'node-b', 'node-c', 'node-d']);
    for (const node of ['node-b', 'node-c', 'node-d']) for (let i = 0; i < 12; i++) await presence.claim(`gw-${node}-${i}`, node);
    let mine = 12;
    const { rebalancer, asked } = rebalancerOf(presence, () => mine, clock.now);
    // Balanced: 12 each.
    expect(await rebalancer.tick()).toBe(0);
    // node-d dies just after that beat; 9 of its 12 gateways reconnect to the others (3 each) before the next round.
    const reconnect = async (i: number, to: string): Promise<void> => {
      await presence.claim(`gw-node-d-${i}`, to);
      if (to === 'node-a') mine++;
    };
    for (let i = 0; i < 9; i++) await reconnect(i, ['node-a', 'node-b', 'node-c'][i % 3]!);
    clock.advance(5_000);
    await beat(['node-a', 'node-b', 'node-c']);
    expect((await presence.liveNodes()).find((n) => n.nodeId === 'node-d')).toEqual({ nodeId: 'node-d', gateways: 3, fresh: true });
    // Loads 15, 15, 15 and node-d's 3: counted, the average would be 12 and node-a would close 3. Left out: nothing.
    expect(await rebalancer.tick()).toBe(0);
    // The last 3 reconnect: 16 each, node-d at 0 and still looking recent (9 s since its beat): still left out.
    for (let i = 9; i < 12; i++) await reconnect(i, ['node-a', 'node-b', 'node-c'][i % 3]!);
    clock.advance(4_000);
    await beat(['node-a', 'node-b', 'node-c']);
    expect((await presence.liveNodes()).find((n) => n.nodeId === 'node-d')).toEqual({ nodeId: 'node-d', gateways: 0, fresh: true });
    expect(await rebalancer.tick()).toBe(0);
    // Rounds closer together than two beats (REBALANCE_INTERVAL_MS=500): node-d, at 0 again, is left out until its
    // count grows or its beat is too old to count.
    clock.advance(500);
    expect((await presence.liveNodes()).find((n) => n.nodeId === 'node-d')).toEqual({ nodeId: 'node-d', gateways: 0, fresh: true });
    expect(await rebalancer.tick()).toBe(0);
    expect(asked).toEqual([]);
  });

  it('keeps counting a node below the average whose count grows, and one above it that falls', () => {
    const loads = (gateways: number[]): NodeLoad[] => gateways.map((g, i) => ({ nodeId: `n${i}`, gateways: g, fresh: true }));
    const seen = (entries: Array<[string, number, number | null]>): Map<string, SeenLoad> =>
      new Map(entries.map(([id, gateways, fellAt]) => [id, { gateways, fellAt }]));
    const before = seen([
      ['n0', 30, null],
      ['n1', 0, null],
      ['n2', 40, null],
    ]);
    // A node that joined (0, then 3) and one shedding from above the average (40, then 35) both count.
    expect(countedLoads(30, loads([30, 3, 35]), before, 0).loads).toEqual([30, 30, 3, 35]);
    // A node below the average that lost gateways does not, nor while it holds after that; it counts once it grows.
    const fell = countedLoads(30, loads([30, 0, 35]), seen([['n1', 5, null]]), 1_000);
    expect(fell.loads).toEqual([30, 30, 35]);
    const held = countedLoads(30, loads([30, 0, 35]), fell.seen, 2_000);
    expect(held.loads).toEqual([30, 30, 35]);
    expect(countedLoads(30, loads([30, 1, 35]), held.seen, 3_000).loads).toEqual([30, 30, 1, 35]);
    // A live node that lost a gateway once, in a cluster where nothing connects, counts again after the hold (10 s).
    expect(countedLoads(30, loads([30, 0, 35]), held.seen, 1_000 + 10_000).loads).toEqual([30, 30, 35]);
    expect(countedLoads(30, loads([30, 0, 35]), held.seen, 1_000 + 10_001).loads).toEqual([30, 30, 0, 35]);
    // A node seen for the first time counts.
    expect(countedLoads(30, loads([30, 0, 35]), new Map(), 0).loads).toEqual([30, 30, 0, 35]);
  });

  it('counts its own load even when its own beat is late', async () => {
    const clock = manualClock();
    const presence = new MemoryPresenceMap({ now: clock.now });
    await presence.heartbeat('node-a', 15_000);
    clock.advance(12_000);
    await presence.heartbeat('node-b', 15_000);
    const { rebalancer } = rebalancerOf(presence, () => 10);
    // Loads 10 (own), 0: average 5: close 5.
    expect(await rebalancer.tick()).toBe(5);
  });
});
