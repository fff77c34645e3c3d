import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Rebalancer, shedCount } from '../../src/delivery/rebalancer.js';
import { MemoryPresenceMap } from '../../src/state/memory/index.js';

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
});
