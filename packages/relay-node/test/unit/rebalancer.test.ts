import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Rebalancer, shedCount } from '../../src/delivery/rebalancer.js';
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
