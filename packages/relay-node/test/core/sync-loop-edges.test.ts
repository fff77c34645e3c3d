import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import type { KfMessage, SyncMsgResponse } from '@wecom-relay/shared';
import { SyncLoop, type SyncSource } from '../../src/inbound/sync-loop.js';
import { MemorySyncCoordinator } from '../../src/state/memory/index.js';
import { noteThenTryAcquire, type SyncCoordinator } from '../../src/state/sync-coordinator.js';
import { createMetrics, type RelayMetrics } from '../../src/observability/metrics.js';
import { wrapLease } from './wrap-lease.js';

const KF = 'wk-test';
let now = 5_000_000;

const loops: SyncLoop[] = [];
afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.close();
  vi.useRealTimers();
});

function msg(msgid: string, user?: string, eventUser?: string): KfMessage {
  return {
    msgid,
    send_time: 1,
    origin: 3,
    msgtype: eventUser ? 'event' : 'text',
    ...(user ? { external_userid: user } : {}),
    ...(eventUser ? { event: { event_type: 'enter_session', external_userid: eventUser } } : {}),
  } as KfMessage;
}

/** Pages by cursor; a page may omit next_cursor or msg_list, as WeCom's answers may. */
function source(pages: Record<string, Partial<SyncMsgResponse>>): SyncSource & { cursors: Array<string | undefined> } {
  const cursors: Array<string | undefined> = [];
  return {
    cursors,
    async syncMsg(req) {
      cursors.push(req.cursor);
      return { errcode: 0, errmsg: 'ok', has_more: 0, ...(pages[req.cursor ?? ''] ?? { next_cursor: req.cursor }) } as SyncMsgResponse;
    },
  };
}

function makeLoop(o: {
  source: SyncSource;
  coordinator: SyncCoordinator;
  sink?: (m: KfMessage) => Promise<void>;
  metrics?: RelayMetrics;
  pageConcurrency?: number;
  tokenMaxAgeMs?: number;
}): SyncLoop {
  const loop = new SyncLoop({
    openKfid: KF,
    source: o.source,
    coordinator: o.coordinator,
    sink: o.sink ?? (async () => {}),
    logger: pino({ level: 'silent' }),
    metrics: o.metrics ?? createMetrics('sync-edges'),
    pollIntervalMs: 3_600_000,
    retryDelayMs: 3_600_000,
    leaseMs: 60_000,
    now: () => now,
    ...(o.pageConcurrency ? { pageConcurrency: o.pageConcurrency } : {}),
    ...(o.tokenMaxAgeMs ? { tokenMaxAgeMs: o.tokenMaxAgeMs } : {}),
  });
  loops.push(loop);
  return loop;
}

async function runs(metrics: RelayMetrics): Promise<Record<string, number>> {
  return Object.fromEntries((await metrics.syncRuns.get()).values.map((v) => [String(v.labels.outcome), v.value]));
}

describe('SyncLoop edges', () => {
  it('counts runs by outcome: ok, busy, error, stale', async () => {
    const metrics = createMetrics('sync-edges');
    const coordinator = new MemorySyncCoordinator({ now: () => now });
    const ok = makeLoop({ source: source({ '': { next_cursor: 'c1' } }), coordinator, metrics });
    await ok.notify(null);
    await ok.idle();
    expect(await runs(metrics)).toEqual({ ok: 1 });

    const held = (await coordinator.tryAcquire(KF, 60_000))!;
    await ok.notify(null);
    await ok.idle();
    expect(await runs(metrics)).toEqual({ ok: 1, busy: 1 });
    await held.release();

    const failing = makeLoop({
      source: { syncMsg: async () => Promise.reject(new Error('down')) },
      coordinator,
      metrics,
    });
    await failing.notify(null);
    await failing.idle();
    expect(await runs(metrics)).toEqual({ ok: 1, busy: 1, error: 1 });

    const stale = makeLoop({
      source: source({ c1: { next_cursor: 'c2', has_more: 1 } }),
      coordinator: wrapLease(coordinator, () => ({ commitCursor: async () => false })),
      metrics,
    });
    await stale.notify(null);
    await stale.idle();
    expect(await runs(metrics)).toEqual({ ok: 1, busy: 1, error: 1, stale: 1 });
  });

  it('a callback noted on another node while the lease is being released is pulled all the same', async () => {
    const coordinator = new MemorySyncCoordinator({ now: () => now });
    let releases = 0;
    const racing = wrapLease(coordinator, (lease) => ({
      async release() {
        // Another node's callback lands now: its own kick found the lease busy.
        if (releases++ === 0) await coordinator.notePending(KF, null);
        return await lease.release();
      },
    }));
    const src = source({ '': { next_cursor: 'c1' }, c1: { next_cursor: 'c2' } });
    const loop = makeLoop({ source: src, coordinator: racing });
    await loop.notify(null);
    await loop.idle();
    expect(src.cursors).toEqual([undefined, 'c1']);
    expect(await coordinator.hasPending(KF)).toBe(false);
  });

  it('a notify while a pull runs here makes it go round again rather than start a second run', async () => {
    const metrics = createMetrics('sync-edges');
    const coordinator = new MemorySyncCoordinator({ now: () => now });
    let loop!: SyncLoop;
    let first = true;
    loop = makeLoop({
      source: source({ '': { next_cursor: 'c1', msg_list: [msg('m1', 'u1')] }, c1: { next_cursor: 'c1' } }),
      coordinator,
      metrics,
      sink: async () => {
        if (first) {
          first = false;
          await loop.notify(null);
        }
      },
    });
    await loop.notify(null);
    await loop.idle();
    expect(await runs(metrics)).toEqual({ ok: 2 });
  });

  it('never overwrites the cursor with a missing one, and does not commit an unchanged one', async () => {
    const coordinator = new MemorySyncCoordinator({ now: () => now });
    const commits: string[] = [];
    const tracing = wrapLease(coordinator, (lease) => ({
      commitCursor: async (c) => {
        commits.push(c);
        return lease.commitCursor(c);
      },
    }));
    const loop = makeLoop({ source: source({ '': { next_cursor: 'c1' }, c1: { msg_list: [msg('m', 'u')] } }), coordinator: tracing });
    await loop.notify(null);
    await loop.idle();
    await loop.notify(null);
    await loop.idle();
    await loop.notify(null);
    await loop.idle();
    expect(commits).toEqual(['c1']);
    const lease = (await coordinator.tryAcquire(KF, 1_000))!;
    expect(await lease.cursor()).toBe('c1');
    await lease.release();
  });

  it('a page without msg_list hands nothing on', async () => {
    const handed: string[] = [];
    const loop = makeLoop({
      source: { syncMsg: async () => ({ errcode: 0, errmsg: 'ok', next_cursor: 'c1', has_more: 0 }) as unknown as SyncMsgResponse },
      coordinator: new MemorySyncCoordinator({ now: () => now }),
      sink: async (m) => void handed.push(m.msgid),
    });
    await loop.notify(null);
    await loop.idle();
    expect(handed).toEqual([]);
  });

  it('events are ordered with their user (external_userid inside the event), user-less items on their own', async () => {
    const log: string[] = [];
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const page = [msg('e1', undefined, 'ux'), msg('m2', 'ux'), msg('lone'), msg('m3', 'uy')];
    const loop = makeLoop({
      source: source({ '': { next_cursor: 'c1', msg_list: page } }),
      coordinator: new MemorySyncCoordinator({ now: () => now }),
      sink: async (m) => {
        log.push(`start:${m.msgid}`);
        if (m.msgid === 'e1') await blocked;
        if (m.msgid === 'm3') release();
        log.push(`end:${m.msgid}`);
      },
    });
    await loop.notify(null);
    await loop.idle();
    expect(log.indexOf('start:m2')).toBeGreaterThan(log.indexOf('end:e1'));
    expect(log.indexOf('end:lone')).toBeLessThan(log.indexOf('end:e1'));
  });

  it('after a message fails, no further users of the page are started', async () => {
    const handed: string[] = [];
    const loop = makeLoop({
      source: source({ '': { next_cursor: 'c1', msg_list: [msg('a1', 'ua'), msg('b1', 'ub'), msg('c1', 'uc')] } }),
      coordinator: new MemorySyncCoordinator({ now: () => now }),
      pageConcurrency: 1,
      sink: async (m) => {
        if (m.msgid === 'a1') throw new Error('queue down');
        handed.push(m.msgid);
      },
    });
    await loop.notify(null);
    await loop.idle();
    expect(handed).toEqual([]);
  });

  it('uses a callback token for up to 9 minutes by default', async () => {
    const coordinator = new MemorySyncCoordinator({ now: () => now });
    const tokens: Array<string | undefined> = [];
    const loop = makeLoop({
      source: { syncMsg: async (req) => (tokens.push(req.token), { errcode: 0, errmsg: 'ok', has_more: 0, msg_list: [] } as SyncMsgResponse) },
      coordinator,
    });
    await coordinator.notePending(KF, 'tok');
    now += 9 * 60_000 - 1;
    await loop.notify(null);
    await loop.idle();
    now += 1;
    await loop.notify(null);
    await loop.idle();
    expect(tokens).toEqual(['tok', undefined]);
  });

  it('a lease store that throws is counted as an error and retried; a closed loop pulls no more and leaves no timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const metrics = createMetrics('sync-edges');
    const inner = new MemorySyncCoordinator({ now: () => now });
    let down = true;
    const flaky: SyncCoordinator = {
      noteAndTryAcquire: (k, t, ms) => noteThenTryAcquire(flaky, k, t, ms),
      notePending: (k, t) => inner.notePending(k, t),
      hasPending: (k) => inner.hasPending(k),
      close: () => inner.close(),
      tryAcquire: async (k, ms) => {
        if (down) throw new Error('store down');
        return inner.tryAcquire(k, ms);
      },
    };
    const calls: number[] = [];
    const loop = new SyncLoop({
      openKfid: KF,
      source: { syncMsg: async () => (calls.push(1), { errcode: 0, errmsg: 'ok', has_more: 0, msg_list: [] } as SyncMsgResponse) },
      coordinator: flaky,
      sink: async () => {},
      logger: pino({ level: 'silent' }),
      metrics,
      pollIntervalMs: 10_000,
      retryDelayMs: 1_000,
      leaseMs: 6_000,
      now: () => now,
    });
    loops.push(loop);
    loop.start();
    await vi.advanceTimersByTimeAsync(0);
    // A callback's note and acquire are one step: it fails as a whole, and the webhook answers so (WeCom resends).
    await expect(loop.notify(null)).rejects.toThrow('store down');
    await vi.advanceTimersByTimeAsync(0);
    expect(await runs(metrics)).toEqual({ error: 2 });
    // One retry timer, however many failures: plus the poll interval.
    expect(vi.getTimerCount()).toBe(2);
    down = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toHaveLength(1);

    // Busy: one look-again timer however many callbacks.
    const other = (await inner.tryAcquire(KF, 60_000))!;
    await loop.notify(null);
    await loop.notify(null);
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(2);
    await loop.close();
    expect(vi.getTimerCount()).toBe(0);
    await other.release();
    await loop.notify(null);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(1);
  });
});
