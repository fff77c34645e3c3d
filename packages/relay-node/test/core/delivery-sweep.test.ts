/**
 * The background re-check of local gateways (OwnershipSweep) and the timers that drive it: its budget in store
 * calls, the order it visits gateways, its bounded concurrency, what it does for a gateway it keeps or loses, and
 * the heartbeat that triggers a full pass when the store forgot this node or the bus came back.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GatewayDrain } from '../../src/delivery/gateway-drain.js';
import type { GatewayOwnership } from '../../src/delivery/gateway-ownership.js';
import { LocalGateways, type LocalGateway } from '../../src/delivery/local-gateways.js';
import { OwnershipSweep } from '../../src/delivery/ownership-sweep.js';
import type { RetentionTrimmer } from '../../src/delivery/retention-trimmer.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { MemoryNodeBus } from '../../src/state/memory/index.js';
import type { NodeBus } from '../../src/state/node-bus.js';
import { countingPresence } from './delivery-counting.js';
import { FakeSession, closeNodes, localEntry, settle, sharedStores, startNode } from './delivery-harness.js';

afterEach(async () => {
  vi.useRealTimers();
  await closeNodes();
});

function entryFor(gatewayId: string): LocalGateway {
  return localEntry(new FakeSession(gatewayId));
}

/** A sweep over real local gateways whose re-checks are recorded; `lost` ones are no longer ours; `gate` holds each. */
function sweepOver(ids: string[], callsPerSecond: number, options: { lost?: string[]; gate?: () => Promise<void> } = {}) {
  const local = new LocalGateways(createMetrics('node-a'));
  for (const id of ids) local.add(entryFor(id));
  const reasserted: string[] = [];
  const scheduled: string[] = [];
  const trimmed: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const ownership = {
    reassert: async (entry: LocalGateway) => {
      reasserted.push(entry.session.gatewayId);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await options.gate?.();
      inFlight--;
      return !(options.lost ?? []).includes(entry.session.gatewayId);
    },
  } as unknown as GatewayOwnership;
  const drain = { schedule: (id: string) => void scheduled.push(id) } as unknown as GatewayDrain;
  const trimmer = { trim: async (id: string) => void trimmed.push(id) } as unknown as RetentionTrimmer;
  const sweep = new OwnershipSweep({ local, ownership, drain, trimmer, callsPerSecond });
  return { sweep, local, reasserted, scheduled, trimmed, maxInFlight: () => maxInFlight };
}

/** A gate every re-check waits on until `open()`. */
function gate() {
  let waiting: Array<() => void> = [];
  let opened = false;
  return {
    wait: () => (opened ? Promise.resolve() : new Promise<void>((resolve) => waiting.push(resolve))),
    open: () => {
      opened = true;
      for (const r of waiting) r();
      waiting = [];
    },
  };
}

describe('slow re-check: budget and order', () => {
  it('visits gateways in the order they attached, one per 3 store calls, resuming where it stopped', async () => {
    const s = sweepOver(['gw-a', 'gw-b', 'gw-c'], 3);
    await s.sweep.tick(1_000);
    expect(s.reasserted).toEqual(['gw-a']);
    await s.sweep.tick(1_000);
    await s.sweep.tick(1_000);
    await s.sweep.tick(1_000);
    expect(s.reasserted).toEqual(['gw-a', 'gw-b', 'gw-c', 'gw-a']);
  });

  it('earns its budget per second of elapsed time: 1 ms earns almost nothing', async () => {
    const s = sweepOver(['gw-a'], 3);
    await s.sweep.tick(1);
    expect(s.reasserted).toEqual([]);
    // 999 ms more make a whole second: one re-check.
    await s.sweep.tick(999);
    expect(s.reasserted).toEqual(['gw-a']);
  });

  it('keeps at most one second of unspent budget, so a long pause is not followed by a burst', async () => {
    const s = sweepOver(['gw-a', 'gw-b', 'gw-c', 'gw-d', 'gw-e'], 3);
    await s.sweep.tick(5_000);
    expect(s.reasserted).toEqual(['gw-a']);
  });

  it('an idle node keeps its budget for the first gateway that attaches', async () => {
    const s = sweepOver([], 3);
    await s.sweep.tick(1_000);
    expect(s.reasserted).toEqual([]);
    s.local.add(entryFor('gw-late'));
    await s.sweep.tick(0);
    expect(s.reasserted).toEqual(['gw-late']);
  });

  it('skips a gateway that left since the round began', async () => {
    const s = sweepOver(['gw-a', 'gw-b'], 3);
    await s.sweep.tick(1_000);
    s.local.remove(s.local.get('gw-b')!);
    await s.sweep.tick(1_000);
    await s.sweep.tick(1_000);
    expect(s.reasserted).toEqual(['gw-a', 'gw-a']);
  });

  it('a tick that comes while the previous one still waits on the store spends nothing', async () => {
    const g = gate();
    const s = sweepOver(['gw-a', 'gw-b'], 3, { gate: g.wait });
    const first = s.sweep.tick(1_000);
    await settle();
    const second = s.sweep.tick(1_000);
    await settle();
    expect(s.reasserted).toEqual(['gw-a']);
    g.open();
    await Promise.all([first, second]);
    expect(s.reasserted).toEqual(['gw-a']);
  });

  it("re-checks a tick's gateways side by side, so their store calls can go out together", async () => {
    const g = gate();
    const ids = Array.from({ length: 12 }, (_, i) => `gw-${i}`);
    const s = sweepOver(ids, 30, { gate: g.wait });
    const tick = s.sweep.tick(1_000);
    await settle();
    // 30 calls a second at 3 per gateway: 10 gateways, all waiting on the store at once.
    expect(s.reasserted).toEqual(ids.slice(0, 10));
    expect(s.maxInFlight()).toBe(10);
    g.open();
    await tick;
    expect(s.scheduled).toEqual(ids.slice(0, 10));
    expect(s.trimmed).toEqual(ids.slice(0, 10));
  });

  it('re-checks a gateway at most once per tick, even when the budget would cover it twice', async () => {
    const s = sweepOver(['gw-a', 'gw-b'], 30);
    await s.sweep.tick(1_000);
    expect(s.reasserted).toEqual(['gw-a', 'gw-b']);
    await s.sweep.tick(1_000);
    expect(s.reasserted).toEqual(['gw-a', 'gw-b', 'gw-a', 'gw-b']);
  });

  it('does nothing once closed', async () => {
    const s = sweepOver(['gw-a'], 3);
    s.sweep.close();
    await s.sweep.tick(1_000);
    await s.sweep.run();
    expect(s.reasserted).toEqual([]);
  });
});

describe('re-check of one gateway', () => {
  it('a gateway still ours is drained and trimmed; one that was lost is neither', async () => {
    const s = sweepOver(['gw-kept', 'gw-lost'], 0, { lost: ['gw-lost'] });
    await s.sweep.run();
    expect(s.reasserted.sort()).toEqual(['gw-kept', 'gw-lost']);
    expect(s.scheduled).toEqual(['gw-kept']);
    expect(s.trimmed).toEqual(['gw-kept']);
  });
});

describe('full pass', () => {
  it('re-checks at most 16 gateways at once and reaches every one', async () => {
    const g = gate();
    const ids = Array.from({ length: 20 }, (_, i) => `gw-${i}`);
    const s = sweepOver(ids, 0, { gate: g.wait });
    const pass = s.sweep.run();
    await settle();
    expect(s.reasserted).toHaveLength(16);
    g.open();
    await pass;
    expect(s.maxInFlight()).toBe(16);
    expect([...s.reasserted].sort()).toEqual([...ids].sort());
  });

  it('a pass asked for while one runs is not run twice; one asked for after it ends runs again', async () => {
    const g = gate();
    const s = sweepOver(['gw-a', 'gw-b'], 0, { gate: g.wait });
    const first = s.sweep.run();
    const second = s.sweep.run();
    await settle();
    g.open();
    await Promise.all([first, second]);
    expect(s.reasserted).toHaveLength(2);
    await s.sweep.run();
    expect(s.reasserted).toHaveLength(4);
  });

  it('closing stops a pass between two gateways', async () => {
    const g = gate();
    const ids = Array.from({ length: 20 }, (_, i) => `gw-${i}`);
    const s = sweepOver(ids, 0, { gate: g.wait });
    const pass = s.sweep.run();
    await settle();
    s.sweep.close();
    g.open();
    await pass;
    expect(s.reasserted).toHaveLength(16);
  });
});

/** A memory bus whose subscription can be taken down and brought back. */
function flakyBus(stores: ReturnType<typeof sharedStores>): { bus: NodeBus; setLive: (live: boolean) => void } {
  const inner = new MemoryNodeBus({ hub: stores.hub });
  let live = true;
  const bus: NodeBus = {
    publish: (n, m) => inner.publish(n, m),
    subscribe: (n, h) => inner.subscribe(n, h),
    isLive: () => live && inner.isLive(),
    close: () => inner.close(),
  };
  return { bus, setLive: (v) => (live = v) };
}

describe('the delivery timers', () => {
  it('heartbeats every heartbeatMs with a ttl of 3 heartbeats, and no full pass while nothing was lost', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    const { presence, calls } = countingPresence(() => stores.presence);
    const ttls: number[] = [];
    const recording = { ...presence, heartbeat: (n: string, ttl: number, held?: string[]) => (ttls.push(ttl), presence.heartbeat(n, ttl, held)) };
    const node = await startNode('node-a', { ...stores, presence: recording }, { heartbeatMs: 1_000 });
    await node.attach(new FakeSession('gw-1'), async () => {});
    const lookups = calls['lookup'] ?? 0;
    await vi.advanceTimersByTimeAsync(3_000);
    await settle();
    expect(ttls).toEqual([3_000, 3_000, 3_000, 3_000]);
    expect(calls['lookup'] ?? 0).toBe(lookups);
  });

  it('without heartbeatMs a node heartbeats every 5 s with a 15 s ttl', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    const ttls: number[] = [];
    const presence = { ...stores.presence, heartbeat: (n: string, ttl: number, held?: string[]) => (ttls.push(ttl), stores.presence.heartbeat(n, ttl, held)) };
    presence.claim = stores.presence.claim.bind(stores.presence);
    presence.lookup = stores.presence.lookup.bind(stores.presence);
    presence.release = stores.presence.release.bind(stores.presence);
    presence.describe = stores.presence.describe.bind(stores.presence);
    await startNode('node-a', { ...stores, presence }, { heartbeatMs: undefined });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(ttls).toEqual([15_000]);
    await vi.advanceTimersByTimeAsync(1);
    expect(ttls).toEqual([15_000, 15_000]);
  });

  it('when the bus subscription comes back, every local gateway is re-checked at once (and only then)', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    const { presence, calls } = countingPresence(() => stores.presence);
    const { bus, setLive } = flakyBus(stores);
    const node = await startNode('node-a', { ...stores, presence }, { heartbeatMs: 1_000, bus });
    for (const id of ['gw-1', 'gw-2']) await node.attach(new FakeSession(id), async () => {});
    const at = () => calls['lookup'] ?? 0;
    const start = at();
    setLive(false);
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(at()).toBe(start);
    setLive(true);
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(at()).toBe(start + 2);
    await vi.advanceTimersByTimeAsync(1_000);
    await settle();
    expect(at()).toBe(start + 2);
  });

  it('the slow re-check ticks every second by default', async () => {
    vi.useFakeTimers({ toFake: ['setInterval'] });
    const stores = sharedStores();
    const { presence, calls } = countingPresence(() => stores.presence);
    const node = await startNode('node-a', { ...stores, presence }, { sweepCallsPerSecond: 3, sweepTickMs: undefined });
    await node.attach(new FakeSession('gw-1'), async () => {});
    await settle();
    const start = calls['lookup'] ?? 0;
    await vi.advanceTimersByTimeAsync(999);
    await settle();
    expect(calls['lookup'] ?? 0).toBe(start);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(calls['lookup'] ?? 0).toBe(start + 1);
  });
});
