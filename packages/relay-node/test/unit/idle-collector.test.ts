import { describe, expect, it } from 'vitest';
import { IdleCollector } from '../../src/util/idle-collector.js';

const MB = 1024 * 1024;

/** A collector on scripted collaborators: the loop's busy share per window, the heap, a clock. */
function scripted(opts: { minGapMs?: number; activity?: () => number | Promise<number>; afterActivityMs?: number } = {}) {
  const state = { busy: 0, heap: 60 * MB, now: 0, collected: 0 };
  const collector = new IdleCollector({
    quietMs: 1_000,
    ...opts,
    utilization: () => state.busy,
    heapBytes: () => state.heap,
    now: () => state.now,
    collect: async () => {
      state.collected += 1;
      state.heap = 25 * MB;
      state.now += 30;
    },
  });
  /** One window of `busy` share, `ms` long. */
  const window = async (busy: number, ms = 1_000): Promise<boolean> => {
    state.busy = busy;
    state.now += ms;
    return collector.tick();
  };
  return { collector, state, window };
}

describe('IdleCollector', () => {
  it('waits while the loop is busy, then collects in the first quiet window', async () => {
    const { state, window } = scripted();
    expect(await window(0.6)).toBe(false);
    expect(await window(0.05)).toBe(false);
    expect(state.collected).toBe(0);
    expect(await window(0.01)).toBe(true);
    expect(state.collected).toBe(1);
  });

  it('does not collect again until the heap has grown by 4 MiB since', async () => {
    const { state, window } = scripted({ minGapMs: 0 });
    await window(0);
    expect(state.collected).toBe(1);
    state.heap += 3 * MB;
    expect(await window(0)).toBe(false);
    state.heap += 2 * MB;
    expect(await window(0)).toBe(true);
    expect(state.collected).toBe(2);
  });

  it('leaves the minimum gap between two collections, however much the heap grows', async () => {
    const { state, window } = scripted({ minGapMs: 5_000 });
    await window(0);
    state.heap = 90 * MB;
    for (let i = 0; i < 4; i++) expect(await window(0)).toBe(false);
    expect(await window(0)).toBe(true);
    expect(state.collected).toBe(2);
  });

  it('stops after a collection that fails, and says so once', async () => {
    const failures: unknown[] = [];
    let calls = 0;
    const collector = new IdleCollector({
      quietMs: 1_000,
      minGapMs: 0,
      utilization: () => 0,
      heapBytes: () => 60 * MB,
      collect: async () => {
        calls += 1;
        throw new Error('no inspector');
      },
      onFailed: (err) => failures.push(err),
    });
    expect(await collector.tick()).toBe(false);
    expect(await collector.tick()).toBe(false);
    expect(calls).toBe(1);
    expect(failures).toHaveLength(1);
  });

  it('collects nothing while the traffic count grew in the last minute, however quiet the loop, then collects once it stood still that long', async () => {
    let messages = 500;
    const { state, window } = scripted({ minGapMs: 0, activity: () => messages });
    // The first reading is where the count stands: a node that starts counts as quiet, and gives its start back.
    expect(await window(0)).toBe(true);
    state.heap += 20 * MB;
    messages += 1;
    expect(await window(0)).toBe(false);
    // Quiet windows, the count unchanged: still within a minute of the last message.
    for (let s = 0; s < 58; s++) expect(await window(0)).toBe(false);
    // A busy window with no message does not count as traffic: the minute runs from the last message.
    expect(await window(0.5)).toBe(false);
    expect(await window(0)).toBe(true);
    expect(state.collected).toBe(2);
  });

  it('counts a traffic count it cannot read as traffic', async () => {
    const { state, window } = scripted({
      minGapMs: 0,
      afterActivityMs: 3_000,
      activity: async () => {
        throw new Error('metrics unreadable');
      },
    });
    for (let s = 0; s < 5; s++) expect(await window(0)).toBe(false);
    expect(state.collected).toBe(0);
  });
});
