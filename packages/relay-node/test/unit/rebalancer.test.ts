import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Rebalancer, countedLoads, shedCount } from '../../src/delivery/rebalancer.js';
import { MemoryPresenceMap } from '../../src/state/memory/index.js';
import { manualClock } from '../state/store-edges-kit.js';

const settings = { maxPerInterval: 5, tolerancePercent: 20 };

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
    const asked: number[] = [];
    const rebalancer = new Rebalancer({
      ...settings,
      intervalMs: 1_000,
      nodeId: 'node-a',
      presence,
      localCount: () => 12,
      shed: (n) => {
        asked.push(n);
        return n;
      },
      logger: pino({ level: 'silent' }),
    });
    // Loads 12 (own, live), 9, 0: average 7, tolerance 8.4: close 5 (of the 5 above 7).
    expect(await rebalancer.tick()).toBe(5);
    expect(asked).toEqual([5]);
  });

  it('leaves out a node whose last beat is more than two beats old, though it is still live', async () => {
    const clock = manualClock();
    const presence = new MemoryPresenceMap({ now: clock.now });
    for (const node of ['node-a', 'node-b', 'node-c']) await presence.heartbeat(node, 15_000);
    for (let i = 0; i < 15; i++) await presence.claim(`gw-b-${i}`, 'node-b');
    const asked: number[] = [];
    const rebalancer = new Rebalancer({
      ...settings,
      intervalMs: 10_000,
      nodeId: 'node-a',
      presence,
      localCount: () => 15,
      shed: (n) => {
        asked.push(n);
        return n;
      },
      logger: pino({ level: 'silent' }),
    });
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
    const asked: number[] = [];
    const rebalancer = new Rebalancer({
      ...settings,
      intervalMs: 10_000,
      nodeId: 'node-a',
      presence,
      localCount: () => mine,
      shed: (n) => {
        asked.push(n);
        return n;
      },
      logger: pino({ level: 'silent' }),
    });
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
    expect(asked).toEqual([]);
  });

  it('keeps counting a node below the average whose count holds or grows, and one above it that falls', () => {
    const loads = (gateways: number[]): { nodeId: string; gateways: number; fresh: boolean }[] =>
      gateways.map((g, i) => ({ nodeId: `n${i}`, gateways: g, fresh: true }));
    const before = new Map([
      ['n0', 30],
      ['n1', 0],
      ['n2', 40],
    ]);
    // A node that joined (0, then 3) and one shedding from above the average (40, then 35) both count.
    expect(countedLoads(30, loads([30, 3, 35]), before)).toEqual([30, 30, 3, 35]);
    // A node below the average that lost gateways does not; nor does one seen for the first time only if it fell.
    expect(countedLoads(30, loads([30, 0, 35]), new Map([['n1', 5]]))).toEqual([30, 30, 35]);
    expect(countedLoads(30, loads([30, 0, 35]), new Map())).toEqual([30, 30, 0, 35]);
  });

  it('counts its own load even when its own beat is late', async () => {
    const clock = manualClock();
    const presence = new MemoryPresenceMap({ now: clock.now });
    await presence.heartbeat('node-a', 15_000);
    clock.advance(12_000);
    await presence.heartbeat('node-b', 15_000);
    const rebalancer = new Rebalancer({
      ...settings,
      intervalMs: 10_000,
      nodeId: 'node-a',
      presence,
      localCount: () => 10,
      shed: (n) => n,
      logger: pino({ level: 'silent' }),
    });
    // Loads 10 (own), 0: average 5: close 5.
    expect(await rebalancer.tick()).toBe(5);
  });
});
