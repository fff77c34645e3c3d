/**
 * SyncLoop in process, for what an operator reads off a node: the log lines of each failure, the metrics' labels,
 * the lease-spread wait, the pull request sent to WeCom, pages handed to a page sink, and what close() stops.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { KfMessage, SyncMsgResponse } from '@wecom-relay/shared';
import { SyncLoop, type PageSink, type SyncSource } from '../../src/inbound/sync-loop.js';
import { LeaseSpread } from '../../src/inbound/lease-spread.js';
import { MemorySyncCoordinator } from '../../src/state/memory/index.js';
import { noteThenTryAcquire, type SyncCoordinator, type SyncLease } from '../../src/state/sync-coordinator.js';
import { createMetrics, type RelayMetrics } from '../../src/observability/metrics.js';
import { wrapLease } from './wrap-lease.js';
import { capturingLogger, LEVEL, metricValue, type LogLine } from './delivery-log-capture.js';

const KF = 'wk-more';
const NOW = 7_000_000;

const loops: SyncLoop[] = [];
afterEach(async () => {
  // Close first and let fake time run out, so a failed assertion never leaves a loop waiting on a fake timer.
  const closing = loops.splice(0).map((loop) => loop.close());
  if (vi.isFakeTimers()) await vi.advanceTimersByTimeAsync(3_600_000);
  vi.useRealTimers();
  await Promise.all(closing);
});

function msg(msgid: string, user?: string): KfMessage {
  return { msgid, send_time: 1, origin: 3, msgtype: 'text', ...(user ? { external_userid: user } : {}) } as KfMessage;
}

type Req = Parameters<SyncSource['syncMsg']>[0];

/** WeCom scripted page by page (a function may throw); past the script an empty last page on the same cursor. */
function scripted(pages: Array<Partial<SyncMsgResponse> | ((req: Req) => Partial<SyncMsgResponse>)>): SyncSource & { requests: Req[] } {
  const requests: Req[] = [];
  return {
    requests,
    async syncMsg(req) {
      requests.push(req);
      const next = pages.shift();
      const body = typeof next === 'function' ? next(req) : (next ?? { next_cursor: req.cursor, has_more: 0 });
      return { errcode: 0, errmsg: 'ok', has_more: 0, ...body } as SyncMsgResponse;
    },
  };
}

/** A coordinator whose methods and lease methods a test may replace; counts acquisitions and commits. */
function wrapped(
  inner: SyncCoordinator,
  o: { coordinator?: Partial<SyncCoordinator>; lease?: (lease: SyncLease) => Partial<SyncLease> } = {},
): SyncCoordinator & { acquires: number; commits: string[] } {
  const passing = wrapLease(inner, (lease) => ({
    commitCursor: (c: string) => {
      out.commits.push(c);
      return lease.commitCursor(c);
    },
    ...(o.lease?.(lease) ?? {}),
  }));
  const out = {
    ...passing,
    acquires: 0,
    commits: [] as string[],
    tryAcquire(k: string, ms: number): Promise<SyncLease | null> {
      out.acquires++;
      return passing.tryAcquire(k, ms);
    },
    // Through the replaceable parts, so a replaced notePending or tryAcquire is what a callback's note runs.
    noteAndTryAcquire: (k: string, t: string | null, ms: number): Promise<SyncLease | null> => noteThenTryAcquire(out, k, t, ms),
    ...o.coordinator,
  };
  return out;
}

function makeLoop(o: {
  source: SyncSource;
  coordinator: SyncCoordinator;
  sink?: (m: KfMessage) => Promise<void>;
  pageSink?: PageSink;
  metrics?: RelayMetrics;
  leaseMs?: number;
  voiceFormat?: 0 | 1;
  spread?: LeaseSpread;
  sleep?: (ms: number) => Promise<void>;
  pageConcurrency?: number;
}) {
  const log = capturingLogger();
  const metrics = o.metrics ?? createMetrics('sync-more');
  const loop = new SyncLoop({
    openKfid: KF,
    source: o.source,
    coordinator: o.coordinator,
    sink: o.sink ?? (async () => {}),
    logger: log.logger,
    metrics,
    pollIntervalMs: 3_600_000,
    retryDelayMs: 3_600_000,
    leaseMs: o.leaseMs ?? 60_000,
    stuckDelayMs: 1_000,
    stuckMaxDelayMs: 8_000,
    random: () => 0.5,
    now: () => NOW,
    ...(o.pageSink ? { pageSink: o.pageSink } : {}),
    ...(o.voiceFormat !== undefined ? { voiceFormat: o.voiceFormat } : {}),
    ...(o.spread ? { spread: o.spread } : {}),
    ...(o.sleep ? { sleep: o.sleep } : {}),
    ...(o.pageConcurrency ? { pageConcurrency: o.pageConcurrency } : {}),
  });
  loops.push(loop);
  return { loop, metrics, lines: log.lines };
}

function line(lines: LogLine[], text: string): LogLine | undefined {
  return lines.find((l) => l.msg === text);
}

/** Every series of a metric as [labels, value]. */
async function series(metric: RelayMetrics[keyof RelayMetrics]): Promise<Array<[Record<string, unknown>, number]>> {
  const { values } = await (metric as unknown as { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number }> }> }).get();
  return values.map((v) => [v.labels, v.value]);
}

async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe('SyncLoop: what each failure logs', () => {
  it('a pending mark that cannot be stored is warned about with its error, and retried', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    let refusals = 1;
    const coordinator = wrapped(inner, {
      coordinator: {
        notePending: async (k, t) => {
          if (refusals-- > 0) throw new Error('store down');
          return inner.notePending(k, t);
        },
      },
    });
    const source = scripted([{ next_cursor: 'c1' }]);
    const { loop, lines } = makeLoop({ source, coordinator });
    loop.start();
    await flush();
    const warned = line(lines, 'could not mark a pull as pending; will retry');
    expect(warned?.level).toBe(LEVEL.warn);
    expect((warned?.err as { message?: string })?.message).toBe('store down');
    expect(source.requests).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(3_600_000);
    await loop.idle();
    expect(source.requests).toHaveLength(1);
  });

  it('a lease that cannot be asked for fails the callback that asked, and its retry is warned about with its error', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    const coordinator = wrapped(inner, { coordinator: { tryAcquire: async () => Promise.reject(new Error('no lease store')) } });
    const { loop, lines, metrics } = makeLoop({ source: scripted([]), coordinator });
    // The callback's note and acquire fail as one: the webhook answers so, and WeCom sends the callback again.
    await expect(loop.notify(null)).rejects.toThrow('no lease store');
    await loop.idle();
    expect(await metricValue(metrics.syncRuns, { open_kfid: KF, outcome: 'error' })).toBe(1);
    expect(line(lines, 'sync lease unavailable; will retry')).toBeUndefined();
    // The first retry: the delay is capped at 30 s.
    await vi.advanceTimersByTimeAsync(30_000);
    await loop.idle();
    const warned = line(lines, 'sync lease unavailable; will retry');
    expect(warned?.level).toBe(LEVEL.warn);
    expect((warned?.err as { message?: string })?.message).toBe('no lease store');
    expect(await metricValue(metrics.syncRuns, { open_kfid: KF, outcome: 'error' })).toBe(2);
  });

  it('a failed pull is warned about with its error and the lease fence, and the cursor stays', async () => {
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    const coordinator = wrapped(inner);
    const source: SyncSource = { syncMsg: async () => Promise.reject(new Error('wecom down')) };
    const { loop, lines } = makeLoop({ source, coordinator });
    await loop.notify(null);
    await loop.idle();
    const warned = line(lines, 'pull failed; the cursor stays where it was and the pull is retried');
    expect(warned?.level).toBe(LEVEL.warn);
    expect((warned?.err as { message?: string })?.message).toBe('wecom down');
    expect(typeof warned?.fence).toBe('number');
    expect(coordinator.commits).toEqual([]);
  });

  it('a lease lost mid-pull is warned about with the fence it had, and counted stale without a last-success time', async () => {
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    let fence: unknown;
    const coordinator = wrapped(inner, {
      lease: (lease) => {
        fence = lease.fence;
        return { commitCursor: async () => false };
      },
    });
    const { loop, lines, metrics } = makeLoop({ source: scripted([{ next_cursor: 'c1', msg_list: [msg('m1', 'u1')] }]), coordinator });
    await loop.notify(null);
    await loop.idle();
    const warned = line(lines, 'sync lease lost mid-pull; another node continues from its cursor');
    expect(warned?.level).toBe(LEVEL.warn);
    expect(warned?.fence).toBe(fence);
    expect(await metricValue(metrics.syncRuns, { open_kfid: KF, outcome: 'stale' })).toBe(1);
    expect(await series(metrics.syncLastSuccess)).toEqual([]);
  });

  it('a lease that cannot be let go is warned about with its error; the mark is put back and the pull retried', async () => {
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    const coordinator = wrapped(inner, { lease: () => ({ release: async () => Promise.reject(new Error('release refused')) }) });
    const { loop, lines, metrics } = makeLoop({ source: scripted([{ next_cursor: 'c1' }]), coordinator });
    await loop.notify(null);
    await loop.idle();
    // The page was pulled and its cursor stored; the take that would let the lease go failed.
    expect(coordinator.commits).toEqual(['c1']);
    const failed = line(lines, 'could not take the pending mark or let the sync lease go; the pull is retried');
    expect(failed?.level).toBe(LEVEL.warn);
    expect((failed?.err as { message?: string })?.message).toBe('release refused');
    const warned = line(lines, 'could not release the sync lease');
    expect(warned?.level).toBe(LEVEL.warn);
    expect((warned?.err as { message?: string })?.message).toBe('release refused');
    expect(await metricValue(metrics.syncRuns, { open_kfid: KF, outcome: 'error' })).toBe(1);
    expect(await inner.hasPending(KF)).toBe(true);
  });

  it('a renewal that fails while a page is being handed on is warned about with its error', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    const coordinator = wrapped(inner, { lease: () => ({ renew: async () => Promise.reject(new Error('renew refused')) }) });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { loop, lines } = makeLoop({
      source: scripted([{ next_cursor: 'c1', msg_list: [msg('m1', 'u1')] }]),
      coordinator,
      leaseMs: 300,
      sink: () => gate,
    });
    await loop.notify(null);
    try {
      await flush();
      expect(line(lines, 'sync lease renewal failed')).toBeUndefined();
      await vi.advanceTimersByTimeAsync(100);
      const warned = line(lines, 'sync lease renewal failed');
      expect(warned?.level).toBe(LEVEL.warn);
      expect((warned?.err as { message?: string })?.message).toBe('renew refused');
    } finally {
      release();
    }
    await loop.idle();
  });

  it('a refused callback token is logged at info, and the page is pulled again without it', async () => {
    const coordinator = new MemorySyncCoordinator({ now: () => NOW });
    const source = scripted([
      () => {
        throw Object.assign(new Error('invalid token'), { errcode: 95007 });
      },
      { next_cursor: 'c1' },
    ]);
    const { loop, lines } = makeLoop({ source, coordinator });
    await loop.notify('tok-1');
    await loop.idle();
    expect(line(lines, 'callback token refused by WeCom; pulling without it')?.level).toBe(LEVEL.info);
    expect(source.requests.map((r) => r.token)).toEqual(['tok-1', undefined]);
  });
});

describe('SyncLoop: metrics carry the kf account', () => {
  it('the lease-held gauge reads 0 for the account from start(), 1 while it pulls, 0 after', async () => {
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    let unblock!: () => void;
    const blocked = new Promise<void>((r) => (unblock = r));
    const coordinator = wrapped(inner, {
      coordinator: {
        notePending: async (k, t) => {
          await blocked;
          return inner.notePending(k, t);
        },
      },
    });
    const held: number[] = [];
    const { loop, metrics } = makeLoop({
      source: scripted([{ next_cursor: 'c1', msg_list: [msg('m1', 'u1')] }]),
      coordinator,
      sink: async () => void held.push(await metricValue(metrics.syncLeaseHeld, { open_kfid: KF })),
    });
    loop.start();
    expect(await series(metrics.syncLeaseHeld)).toEqual([[{ open_kfid: KF }, 0]]);
    unblock();
    await flush();
    await loop.idle();
    expect(held).toEqual([1]);
    expect(await series(metrics.syncLeaseHeld)).toEqual([[{ open_kfid: KF }, 0]]);
  });

  it('pages, messages and stuck pages are counted for the account (a page without msg_list counts no message)', async () => {
    const coordinator = new MemorySyncCoordinator({ now: () => NOW });
    const source = scripted([
      { next_cursor: 'c1', has_more: 1, msg_list: [msg('m1', 'u1'), msg('m2', 'u1')] },
      { next_cursor: 'c1', has_more: 1 },
      { next_cursor: 'c1', has_more: 1 },
      { next_cursor: 'c2', has_more: 0, msg_list: [msg('m3', 'u2')] },
    ]);
    const { loop, metrics } = makeLoop({ source, coordinator, sleep: async () => {} });
    await loop.notify(null);
    await loop.idle();
    expect(await series(metrics.syncPages)).toEqual([[{ open_kfid: KF }, 4]]);
    expect(await series(metrics.syncMessages)).toEqual([[{ open_kfid: KF }, 3]]);
    expect(await series(metrics.syncCursorStuck)).toEqual([[{ open_kfid: KF }, 2]]);
  });

  it('a close that cuts a back-off short ends the pull cleanly: pages so far committed, counted ok, last success stamped', async () => {
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    const coordinator = wrapped(inner);
    let loopRef!: SyncLoop;
    const source = scripted([
      { next_cursor: 'c1', has_more: 1, msg_list: [msg('m1', 'u1')] },
      { next_cursor: 'c1', has_more: 1 },
    ]);
    const { loop, metrics } = makeLoop({ source, coordinator, sleep: async () => void loopRef.close() });
    loopRef = loop;
    await loop.notify(null);
    await loop.idle();
    expect(source.requests).toHaveLength(2);
    expect(coordinator.commits).toEqual(['c1']);
    expect(await metricValue(metrics.syncRuns, { open_kfid: KF, outcome: 'ok' })).toBe(1);
    expect(await series(metrics.syncLastSuccess)).toEqual([[{ open_kfid: KF }, NOW / 1000]]);
  });
});

describe('SyncLoop: the pull itself', () => {
  it('asks WeCom for SILK voice only when configured so; by default sends no voice_format at all', async () => {
    const silk = scripted([{ next_cursor: 'c1' }]);
    const a = makeLoop({ source: silk, coordinator: new MemorySyncCoordinator({ now: () => NOW }), voiceFormat: 1 });
    await a.loop.notify(null);
    await a.loop.idle();
    expect(silk.requests[0]).toEqual({ openKfid: KF, cursor: undefined, token: undefined, limit: 1000, voiceFormat: 1 });

    const plain = scripted([{ next_cursor: 'c1' }]);
    const b = makeLoop({ source: plain, coordinator: new MemorySyncCoordinator({ now: () => NOW }) });
    await b.loop.notify(null);
    await b.loop.idle();
    expect('voiceFormat' in plain.requests[0]!).toBe(false);

    const amr = scripted([{ next_cursor: 'c1' }]);
    const c = makeLoop({ source: amr, coordinator: new MemorySyncCoordinator({ now: () => NOW }), voiceFormat: 0 });
    await c.loop.notify(null);
    await c.loop.idle();
    expect('voiceFormat' in amr.requests[0]!).toBe(false);
  });

  it('a page sink gets each whole page with its context, an empty list for a page without msg_list, and the cursor moves after it', async () => {
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    const coordinator = wrapped(inner);
    const got: Array<{ ids: string[]; firstPull: boolean; openKfid: string; commitsBefore: number }> = [];
    const perMessage: string[] = [];
    const { loop } = makeLoop({
      source: scripted([
        { next_cursor: 'c1', has_more: 1, msg_list: [msg('m1', 'u1'), msg('m2', 'u2')] },
        { next_cursor: 'c2', has_more: 0 },
      ]),
      coordinator,
      sink: async (m) => void perMessage.push(m.msgid),
      pageSink: async (messages, context) =>
        void got.push({ ids: messages.map((m) => m.msgid), ...context, commitsBefore: coordinator.commits.length }),
    });
    await loop.notify(null);
    await loop.idle();
    expect(got).toEqual([
      { ids: ['m1', 'm2'], firstPull: true, openKfid: KF, commitsBefore: 0 },
      { ids: [], firstPull: true, openKfid: KF, commitsBefore: 1 },
    ]);
    expect(perMessage).toEqual([]);
    expect(coordinator.commits).toEqual(['c1', 'c2']);
  });

  it('a page that leaves the cursor where it was writes no cursor', async () => {
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    const coordinator = wrapped(inner);
    const first = makeLoop({ source: scripted([{ next_cursor: 'c1' }]), coordinator });
    await first.loop.notify(null);
    await first.loop.idle();
    expect(coordinator.commits).toEqual(['c1']);
    const again = makeLoop({ source: scripted([{ next_cursor: 'c1', msg_list: [msg('m9', 'u1')] }]), coordinator });
    await again.loop.notify(null);
    await again.loop.idle();
    expect(coordinator.commits).toEqual(['c1']);
  });

  it('a final page on the stuck cursor ends the episode: logged, and the next episode backs off from the first step', async () => {
    const waits: number[] = [];
    const source = scripted([
      { next_cursor: 'c1', has_more: 1 },
      { next_cursor: 'c1', has_more: 1 },
      { next_cursor: 'c1', has_more: 0 },
      { next_cursor: 'c1', has_more: 1 },
      { next_cursor: 'c2', has_more: 0 },
    ]);
    const { loop, lines } = makeLoop({ source, coordinator: new MemorySyncCoordinator({ now: () => NOW }), sleep: async (ms) => void waits.push(ms) });
    await loop.notify(null);
    await loop.idle();
    expect(lines.filter((l) => l.msg === 'sync cursor moves again').map((l) => l.pages)).toEqual([1]);
    await loop.notify(null);
    await loop.idle();
    expect(waits).toEqual([750, 750]);
    expect(lines.filter((l) => l.msg === 'sync cursor moves again').map((l) => l.pages)).toEqual([1, 1]);
  });

  it('messages without a user do not wait for one another', async () => {
    const events: string[] = [];
    let releaseA!: () => void;
    const aHeld = new Promise<void>((r) => (releaseA = r));
    const { loop } = makeLoop({
      source: scripted([{ next_cursor: 'c1', msg_list: [msg('a'), msg('b')] }]),
      coordinator: new MemorySyncCoordinator({ now: () => NOW }),
      sink: async (m) => {
        events.push(`start ${m.msgid}`);
        if (m.msgid === 'a') await aHeld;
        events.push(`end ${m.msgid}`);
      },
    });
    await loop.notify(null);
    try {
      // The in-memory stores answer in microtasks: one turn of the event loop hands on all it can.
      await new Promise((r) => setImmediate(r));
      expect(events).toEqual(['start a', 'start b', 'end b']);
    } finally {
      releaseA();
    }
    await loop.idle();
    expect(events).toEqual(['start a', 'start b', 'end b', 'end a']);
  });

  it('a failed pending check after a run is taken as nothing pending: one run, no second', async () => {
    const inner = new MemorySyncCoordinator({ now: () => NOW });
    let failures = 1;
    const coordinator = wrapped(inner, {
      coordinator: {
        hasPending: async (k) => {
          if (failures-- > 0) throw new Error('store down');
          return inner.hasPending(k);
        },
      },
    });
    const { loop, metrics } = makeLoop({ source: scripted([{ next_cursor: 'c1' }]), coordinator });
    await loop.notify(null);
    await loop.idle();
    expect(coordinator.acquires).toBe(1);
    expect(await series(metrics.syncRuns)).toEqual([[{ open_kfid: KF, outcome: 'ok' }, 1]]);
  });
});

describe('SyncLoop: lease spread and close', () => {
  it('a node holding another account waits its step before asking for this lease', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const spread = new LeaseSpread(500);
    spread.acquired('wk-other');
    const coordinator = wrapped(new MemorySyncCoordinator({ now: () => NOW }));
    const source = scripted([{ next_cursor: 'c1' }]);
    const { loop } = makeLoop({ source, coordinator, spread });
    await loop.notify(null);
    await vi.advanceTimersByTimeAsync(499);
    expect(coordinator.acquires).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await loop.idle();
    expect(coordinator.acquires).toBe(1);
    expect(source.requests).toHaveLength(1);
    expect(spread.accounts()).toEqual(['wk-other']);
  });

  it('close() during the spread wait ends it at once and asks for no lease', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const spread = new LeaseSpread(60_000);
    spread.acquired('wk-other');
    const coordinator = wrapped(new MemorySyncCoordinator({ now: () => NOW }));
    const { loop, metrics } = makeLoop({ source: scripted([{ next_cursor: 'c1' }]), coordinator, spread });
    await loop.notify(null);
    await flush();
    let closed = false;
    void loop.close().then(() => (closed = true));
    await flush();
    expect(closed).toBe(true);
    expect(coordinator.acquires).toBe(0);
    expect(await series(metrics.syncRuns)).toEqual([]);
  });

  it('a notify after close() runs nothing: no lease asked for, no run counted', async () => {
    const coordinator = wrapped(new MemorySyncCoordinator({ now: () => NOW }));
    const { loop, metrics } = makeLoop({ source: scripted([{ next_cursor: 'c1' }]), coordinator });
    await loop.close();
    await loop.notify(null);
    await loop.idle();
    expect(coordinator.acquires).toBe(0);
    expect(await series(metrics.syncRuns)).toEqual([]);
  });

  it('close() after a failed run leaves no retry timer behind', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const coordinator = new MemorySyncCoordinator({ now: () => NOW });
    const { loop } = makeLoop({ source: { syncMsg: async () => Promise.reject(new Error('down')) }, coordinator });
    await loop.notify(null);
    await loop.idle();
    expect(vi.getTimerCount()).toBe(1);
    await loop.close();
    expect(vi.getTimerCount()).toBe(0);
  });
});
