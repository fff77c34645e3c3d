import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { SyncMsgResponse } from '@wecom-relay/shared';
import { SyncLoop, type SyncSource } from '../../src/inbound/sync-loop.js';
import { MemorySyncCoordinator } from '../../src/state/memory/index.js';
import { noteThenTryAcquire, type SyncCoordinator } from '../../src/state/sync-coordinator.js';
import { wrapLease } from './wrap-lease.js';
import { createMetrics } from '../../src/observability/metrics.js';

const KF = 'wk-test';

/** A sync_msg that answers one empty page, or fails while `failing` says so. */
class CountingSource implements SyncSource {
  calls = 0;
  failing = 0;
  async syncMsg(): Promise<SyncMsgResponse> {
    this.calls++;
    if (this.failing > 0) {
      this.failing--;
      throw Object.assign(new Error('WeCom busy'), { errcode: -1 });
    }
    return { errcode: 0, errmsg: 'ok', next_cursor: `c${this.calls}`, has_more: 0, msg_list: [] } as SyncMsgResponse;
  }
}

const loops: SyncLoop[] = [];
let now = 1_000_000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
});
afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.close();
  vi.useRealTimers();
});

function makeLoop(source: SyncSource, coordinator: SyncCoordinator, extra: { leaseMs?: number; pollIntervalMs?: number } = {}): SyncLoop {
  const loop = new SyncLoop({
    openKfid: KF,
    source,
    coordinator,
    sink: async () => {},
    logger: pino({ level: 'silent' }),
    metrics: createMetrics('sync-timers'),
    pollIntervalMs: extra.pollIntervalMs ?? 60_000,
    retryDelayMs: 1_000,
    leaseMs: extra.leaseMs ?? 6_000,
    now: () => now,
  });
  loops.push(loop);
  return loop;
}

/** Advances the fake clock and lets the loop's promises run. */
async function advance(ms: number): Promise<void> {
  now += ms;
  await vi.advanceTimersByTimeAsync(ms);
}

describe('SyncLoop timers (fake clock)', () => {
  it('start() pulls at once and then every pollIntervalMs; close() stops it', async () => {
    const source = new CountingSource();
    const loop = makeLoop(source, new MemorySyncCoordinator({ now: () => now }), { pollIntervalMs: 10_000 });
    loop.start();
    await advance(0);
    expect(source.calls).toBe(1);
    await advance(9_999);
    expect(source.calls).toBe(1);
    await advance(1);
    expect(source.calls).toBe(2);
    await advance(20_000);
    expect(source.calls).toBe(4);
    await loop.close();
    await advance(60_000);
    expect(source.calls).toBe(4);
  });

  it('retries a failed pull after retryDelayMs, doubling each time, and back to the base delay after a success', async () => {
    const source = new CountingSource();
    const loop = makeLoop(source, new MemorySyncCoordinator({ now: () => now }));
    source.failing = 3;
    await loop.notify(null);
    await advance(0);
    expect(source.calls).toBe(1);
    await advance(999);
    expect(source.calls).toBe(1);
    await advance(1); // 1 s after the first failure
    expect(source.calls).toBe(2);
    await advance(1_999);
    expect(source.calls).toBe(2);
    await advance(1); // 2 s after the second
    expect(source.calls).toBe(3);
    await advance(3_999);
    expect(source.calls).toBe(3);
    await advance(1); // 4 s after the third: succeeds
    expect(source.calls).toBe(4);

    source.failing = 1;
    await loop.notify(null);
    await advance(0);
    expect(source.calls).toBe(5);
    await advance(1_000);
    expect(source.calls).toBe(6);
  });

  it('caps the retry delay at 30 s', async () => {
    const source = new CountingSource();
    const loop = makeLoop(source, new MemorySyncCoordinator({ now: () => now }));
    source.failing = 100;
    await loop.notify(null);
    await advance(0);
    // 1 + 2 + 4 + 8 + 16 = 31 s for the first six pulls, then 30 s apart (32 s would be the uncapped next).
    await advance(31_000);
    expect(source.calls).toBe(6);
    await advance(29_999);
    expect(source.calls).toBe(6);
    await advance(1);
    expect(source.calls).toBe(7);
    await advance(30_000);
    expect(source.calls).toBe(8);
  });

  it('when another holder has the lease, looks again after leaseMs and pulls once that holder is gone', async () => {
    const source = new CountingSource();
    const coordinator = new MemorySyncCoordinator({ now: () => now });
    const other = (await coordinator.tryAcquire(KF, 6_000))!;
    const loop = makeLoop(source, coordinator, { leaseMs: 6_000 });
    await loop.notify(null);
    await advance(5_999);
    expect(source.calls).toBe(0);
    void other;
    await advance(1);
    // The other holder died without releasing; its lease ran out.
    expect(source.calls).toBe(1);
  });

  it('a lease store that fails is retried after the retry delay; notify rejects when the mark cannot be stored', async () => {
    const source = new CountingSource();
    const inner = new MemorySyncCoordinator({ now: () => now });
    let down = true;
    const flaky: SyncCoordinator = {
      noteAndTryAcquire: (k, t, ms) => noteThenTryAcquire(flaky, k, t, ms),
      notePending: async (k, t) => {
        if (down) throw new Error('store down');
        return inner.notePending(k, t);
      },
      hasPending: (k) => inner.hasPending(k),
      tryAcquire: async (k, ms) => {
        if (down) throw new Error('store down');
        return inner.tryAcquire(k, ms);
      },
      close: () => inner.close(),
    };
    const loop = makeLoop(source, flaky);
    await expect(loop.notify('tok')).rejects.toThrow('store down');
    down = false;
    await inner.notePending(KF, null);
    down = true;
    loop.start();
    await advance(0);
    expect(source.calls).toBe(0);
    down = false;
    await advance(1_000);
    expect(source.calls).toBe(1);
  });

  it('renews the lease every third of leaseMs while a page is handed on, extends it with the commit, and stops when that is refused', async () => {
    const coordinator = new MemorySyncCoordinator({ now: () => now });
    let renewals = 0;
    let refuse = false;
    const extendedBy: Array<number | undefined> = [];
    const counting = wrapLease(coordinator, (lease) => ({
      renew: async (m: number) => {
        renewals++;
        return refuse ? false : lease.renew(m);
      },
      commitCursor: async (c: string, m?: number) => {
        extendedBy.push(m);
        return refuse ? false : lease.commitCursor(c, m);
      },
    }));
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    let pages = 0;
    const source: SyncSource = {
      async syncMsg() {
        pages++;
        return {
          errcode: 0,
          errmsg: 'ok',
          next_cursor: `c${pages}`,
          has_more: 1,
          msg_list: pages === 1 ? [{ msgid: 'm1', external_userid: 'u', send_time: 1, origin: 3, msgtype: 'text' }] : [],
        } as SyncMsgResponse;
      },
    };
    const loop = new SyncLoop({
      openKfid: KF,
      source,
      coordinator: counting,
      sink: () => slow,
      logger: pino({ level: 'silent' }),
      metrics: createMetrics('sync-timers'),
      pollIntervalMs: 3_600_000,
      retryDelayMs: 3_600_000,
      leaseMs: 3_000,
      now: () => now,
    });
    loops.push(loop);
    await loop.notify(null);
    await advance(2_999);
    const early = renewals;
    await advance(1);
    const atLease = renewals;
    if (atLease !== 3) release();
    expect([early, atLease]).toEqual([2, 3]);
    // After the page, has_more 1: its commit extends the lease for the next page (no renewal of its own); refused means stop.
    refuse = true;
    release();
    await advance(0);
    await loop.idle();
    expect(extendedBy).toEqual([3_000]);
    expect(renewals).toBe(atLease);
    // Page 2 was asked for ahead while page 1 was handed on; after the refused commit nothing more is asked for.
    expect(pages).toBe(2);
    expect(await coordinator.hasPending(KF)).toBe(true);
  });
});
