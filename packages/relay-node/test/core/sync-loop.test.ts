import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { KfMessage, SyncMsgResponse } from '@wecom-relay/shared';
import { SyncLoop, type SyncSource } from '../../src/inbound/sync-loop.js';
import { MemorySyncCoordinator } from '../../src/state/memory/index.js';
import type { SyncCoordinator } from '../../src/state/sync-coordinator.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { wrapLease } from './wrap-lease.js';

const KF = 'wk-test';
const silent = pino({ level: 'silent' });

function msg(msgid: string, user = 'u1'): KfMessage {
  return { msgid, external_userid: user, open_kfid: KF, send_time: 1, origin: 3, msgtype: 'text', text: { content: msgid } };
}

type Page = { messages: KfMessage[]; next: string; hasMore?: 0 | 1 };

/** WeCom's sync_msg as a table: the page returned for each cursor (undefined = first pull). */
class PagedSource implements SyncSource {
  readonly calls: Array<{ cursor?: string; token?: string }> = [];
  /** Errors thrown by the next calls, in order. */
  readonly failures: unknown[] = [];
  constructor(private readonly pages: Map<string | undefined, Page>) {}
  async syncMsg(req: { openKfid: string; cursor?: string; token?: string }): Promise<SyncMsgResponse> {
    this.calls.push({ cursor: req.cursor, token: req.token });
    const failure = this.failures.shift();
    if (failure !== undefined) throw failure;
    const page = this.pages.get(req.cursor) ?? { messages: [], next: req.cursor ?? '' };
    return { errcode: 0, errmsg: 'ok', next_cursor: page.next, has_more: page.hasMore ?? 0, msg_list: page.messages } as SyncMsgResponse;
  }
}

/** m1 on the first page (more to come), m2 on the page after c1. */
function twoPages(): PagedSource {
  return new PagedSource(
    new Map<string | undefined, Page>([
      [undefined, { messages: [msg('m1')], next: 'c1', hasMore: 1 }],
      ['c1', { messages: [msg('m2')], next: 'c2' }],
    ]),
  );
}

/** m1, m2 and m3 on three pages in a row (more to come after the first two), ending at c3. */
function threePages(): PagedSource {
  return new PagedSource(
    new Map<string | undefined, Page>([
      [undefined, { messages: [msg('m1')], next: 'c1', hasMore: 1 }],
      ['c1', { messages: [msg('m2')], next: 'c2', hasMore: 1 }],
      ['c2', { messages: [msg('m3')], next: 'c3' }],
    ]),
  );
}

/** Wraps a coordinator so every cursor commit lands in the shared trace. */
function tracingCoordinator(inner: SyncCoordinator, trace: string[], refuseCommits = false): SyncCoordinator {
  return wrapLease(inner, (lease) => ({
    async commitCursor(c) {
      trace.push(`commit:${c}`);
      return refuseCommits ? false : lease.commitCursor(c);
    },
  }));
}

async function storedCursor(coordinator: MemorySyncCoordinator): Promise<string | null> {
  const lease = await coordinator.tryAcquire(KF, 1000);
  if (!lease) throw new Error('lease still held');
  try {
    return await lease.cursor();
  } finally {
    await lease.release();
  }
}

const loops: SyncLoop[] = [];
afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.close();
});

function makeLoop(opts: {
  source: SyncSource;
  coordinator: SyncCoordinator;
  sink: (m: KfMessage, ctx: { firstPull: boolean }) => Promise<void>;
  now?: () => number;
  pageConcurrency?: number;
}): SyncLoop {
  const loop = new SyncLoop({
    openKfid: KF,
    logger: silent,
    metrics: createMetrics('sync-test'),
    pollIntervalMs: 3_600_000,
    // Retries are driven by hand in these tests.
    retryDelayMs: 3_600_000,
    leaseMs: 60_000,
    ...opts,
  });
  loops.push(loop);
  return loop;
}

describe('SyncLoop: the cursor and the page', () => {
  it('commits a page cursor only after every message of that page was handed on', async () => {
    const trace: string[] = [];
    const coordinator = new MemorySyncCoordinator();
    const source = new PagedSource(
      new Map<string | undefined, Page>([
        [undefined, { messages: [msg('m1'), msg('m2', 'u2')], next: 'c1', hasMore: 1 }],
        ['c1', { messages: [msg('m3')], next: 'c2' }],
      ]),
    );
    const loop = makeLoop({
      source,
      coordinator: tracingCoordinator(coordinator, trace),
      sink: async (m) => {
        await new Promise((r) => setImmediate(r));
        trace.push(`handed:${m.msgid}`);
      },
    });
    await loop.notify(null);
    await loop.idle();
    expect(trace.indexOf('commit:c1')).toBeGreaterThan(Math.max(trace.indexOf('handed:m1'), trace.indexOf('handed:m2')));
    expect(trace.indexOf('commit:c2')).toBeGreaterThan(trace.indexOf('handed:m3'));
    expect(trace.filter((t) => t.startsWith('commit'))).toEqual(['commit:c1', 'commit:c2']);
    expect(await storedCursor(coordinator)).toBe('c2');
  });

  it('extends the lease with each page\'s commit, not with a renewal of its own between pages', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = threePages();
    const steps: string[] = [];
    const loop = makeLoop({
      source,
      coordinator: wrapLease(coordinator, (lease) => ({
        renew: async (m) => {
          steps.push(`renew:${m}`);
          return lease.renew(m);
        },
        commitCursor: async (c, m) => {
          steps.push(`commit:${c}:${m}`);
          return lease.commitCursor(c, m);
        },
      })),
      sink: async () => undefined,
    });
    await loop.notify(null);
    await loop.idle();
    expect(steps).toEqual(['commit:c1:60000', 'commit:c2:60000', 'commit:c3:60000']);
    expect(await storedCursor(coordinator)).toBe('c3');
  });

  it('a sink that fails leaves the cursor before the page, and the retry hands the whole page on again', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = new PagedSource(
      new Map<string | undefined, Page>([
        [undefined, { messages: [msg('m1')], next: 'c1', hasMore: 1 }],
        ['c1', { messages: [msg('m2'), msg('m3', 'u2')], next: 'c2' }],
      ]),
    );
    const handed: string[] = [];
    let failOn: string | null = 'm3';
    const loop = makeLoop({
      source,
      coordinator,
      sink: async (m) => {
        if (m.msgid === failOn) {
          failOn = null;
          throw new Error('queue unavailable');
        }
        handed.push(m.msgid);
      },
    });
    await loop.notify(null);
    await loop.idle();
    // Page one was done; page two failed part-way: the cursor stays at c1 and a pull is still asked for.
    expect(await storedCursor(coordinator)).toBe('c1');
    expect(await coordinator.hasPending(KF)).toBe(true);
    expect(handed).not.toContain('m3');

    await loop.notify(null);
    await loop.idle();
    expect(source.calls.map((c) => c.cursor)).toEqual([undefined, 'c1', 'c1']);
    expect(handed.filter((id) => id === 'm3')).toHaveLength(1);
    expect(handed.filter((id) => id === 'm2')).toHaveLength(2);
    expect(await storedCursor(coordinator)).toBe('c2');
  });

  it('while a page is still being handed on (a crash now would lose it), its cursor is not yet committed', async () => {
    const trace: string[] = [];
    const coordinator = new MemorySyncCoordinator();
    const source = new PagedSource(new Map<string | undefined, Page>([[undefined, { messages: [msg('m1'), msg('m2')], next: 'c1' }]]));
    let reached!: () => void;
    const inSink = new Promise<void>((r) => (reached = r));
    let finish!: () => void;
    const stalled = new Promise<void>((r) => (finish = r));
    const loop = makeLoop({
      source,
      coordinator: tracingCoordinator(coordinator, trace),
      sink: async (m) => {
        if (m.msgid !== 'm2') return;
        reached();
        await stalled;
      },
    });
    void loop.notify(null);
    await inSink;
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // The node dies here: what the next holder would read is the cursor before the page.
    const whileStalled = [...trace];
    finish();
    expect(whileStalled).toEqual([]);
    await loop.idle();
    expect(trace).toEqual(['commit:c1']);
  });

  it('a stale holder (commit refused) stops pulling and puts the pending mark back for the new holder', async () => {
    const trace: string[] = [];
    const coordinator = new MemorySyncCoordinator();
    const source = twoPages();
    const handed: string[] = [];
    const loop = makeLoop({ source, coordinator: tracingCoordinator(coordinator, trace, true), sink: async (m) => void handed.push(m.msgid) });
    await loop.notify(null);
    await loop.idle();
    // Page c1 was asked for ahead while m1 was handed on; refused at the commit, the holder uses none of it.
    expect(source.calls.map((c) => c.cursor)).toEqual([undefined, 'c1']);
    expect(handed).toEqual(['m1']);
    expect(trace).toEqual(['commit:c1']);
    expect(await coordinator.hasPending(KF)).toBe(true);
  });
});

describe('SyncLoop: the next page asked for ahead', () => {
  it('asks for the next page while this one is handed on, and hands it on only after this one is committed', async () => {
    const trace: string[] = [];
    const coordinator = new MemorySyncCoordinator();
    const source = threePages();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let reached!: () => void;
    const inFirst = new Promise<void>((r) => (reached = r));
    const loop = makeLoop({
      source,
      coordinator: tracingCoordinator(coordinator, trace),
      sink: async (m) => {
        trace.push(`hand:${m.msgid}`);
        if (m.msgid === 'm1') {
          reached();
          await held;
        }
      },
    });
    void loop.notify(null);
    await inFirst;
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    // m1 is still being handed on: page c1 is already asked for, nothing of it is handed on, nothing is committed.
    expect(source.calls.map((c) => c.cursor)).toEqual([undefined, 'c1']);
    expect(trace).toEqual(['hand:m1']);
    release();
    await loop.idle();
    expect(trace).toEqual(['hand:m1', 'commit:c1', 'hand:m2', 'commit:c2', 'hand:m3', 'commit:c3']);
    expect(source.calls.map((c) => c.cursor)).toEqual([undefined, 'c1', 'c2']);
    expect(await storedCursor(coordinator)).toBe('c3');
  });

  it('drops the page asked for ahead of a page that failed: the next pull asks again from the committed cursor', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = twoPages();
    const handed: string[] = [];
    let failOnce = true;
    const loop = makeLoop({
      source,
      coordinator,
      sink: async (m) => {
        if (m.msgid === 'm1' && failOnce) {
          failOnce = false;
          throw new Error('Redis away');
        }
        handed.push(m.msgid);
      },
    });
    await loop.notify(null);
    await loop.idle();
    expect(handed).toEqual([]);
    expect(await storedCursor(coordinator)).toBeNull();
    await loop.notify(null);
    await loop.idle();
    expect(handed).toEqual(['m1', 'm2']);
    // First pull: the first page and the one asked for ahead (unused); second pull: both again, from no cursor.
    expect(source.calls.map((c) => c.cursor)).toEqual([undefined, 'c1', undefined, 'c1']);
    expect(await storedCursor(coordinator)).toBe('c2');
  });

  it('a failure of the page asked for ahead is reported only once the page before it is committed', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = twoPages();
    source.failures.push(undefined, Object.assign(new Error('system busy'), { errcode: -1 }));
    const handed: string[] = [];
    const loop = makeLoop({ source, coordinator, sink: async (m) => void handed.push(m.msgid) });
    await loop.notify(null);
    await loop.idle();
    expect(handed).toEqual(['m1']);
    expect(await storedCursor(coordinator)).toBe('c1');
    await loop.notify(null);
    await loop.idle();
    expect(handed).toEqual(['m1', 'm2']);
    expect(await storedCursor(coordinator)).toBe('c2');
  });
});

describe('SyncLoop: pages, tokens and users', () => {
  it('keeps pulling while has_more is 1 even when a page is empty, and stops at has_more 0', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = new PagedSource(
      new Map<string | undefined, Page>([
        [undefined, { messages: [], next: 'c1', hasMore: 1 }],
        ['c1', { messages: [msg('m1')], next: 'c2', hasMore: 0 }],
        ['c2', { messages: [msg('never')], next: 'c3' }],
      ]),
    );
    const handed: string[] = [];
    const loop = makeLoop({ source, coordinator, sink: async (m) => void handed.push(m.msgid) });
    await loop.notify(null);
    await loop.idle();
    expect(handed).toEqual(['m1']);
    expect(source.calls.map((c) => c.cursor)).toEqual([undefined, 'c1']);
  });

  it('marks messages of the very first pull (no stored cursor) as firstPull, and later ones not', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = new PagedSource(
      new Map<string | undefined, Page>([
        [undefined, { messages: [msg('old')], next: 'c1' }],
        ['c1', { messages: [msg('new')], next: 'c2' }],
      ]),
    );
    const seen: Array<[string, boolean]> = [];
    const loop = makeLoop({ source, coordinator, sink: async (m, ctx) => void seen.push([m.msgid, ctx.firstPull]) });
    await loop.notify(null);
    await loop.idle();
    await loop.notify(null);
    await loop.idle();
    expect(seen).toEqual([
      ['old', true],
      ['new', false],
    ]);
  });

  it('uses a fresh callback token, drops one older than tokenMaxAgeMs, and pulls without it when WeCom refuses it (95007)', async () => {
    let now = 1_000_000;
    const coordinator = new MemorySyncCoordinator({ now: () => now });
    const source = new PagedSource(new Map());
    const loop = new SyncLoop({
      openKfid: KF,
      source,
      coordinator,
      sink: async () => {},
      logger: silent,
      metrics: createMetrics('sync-test'),
      pollIntervalMs: 3_600_000,
      retryDelayMs: 3_600_000,
      leaseMs: 60_000,
      tokenMaxAgeMs: 1_000,
      now: () => now,
    });
    loops.push(loop);
    await loop.notify('tok-1');
    await loop.idle();
    expect(source.calls.at(-1)?.token).toBe('tok-1');

    await loop.notify('tok-2');
    now += 1_000;
    // Noted 1000 ms ago with a max age of 1000 ms: too old.
    await loop.idle();
    await coordinator.notePending(KF, null);
    now += 0;
    await loop.notify(null);
    await loop.idle();
    expect(source.calls.at(-1)?.token).toBeUndefined();

    now += 5_000;
    await loop.notify('tok-3');
    source.failures.push(Object.assign(new Error('invalid token'), { errcode: 95007 }));
    await loop.idle();
    expect(source.calls.slice(-2).map((c) => c.token)).toEqual(['tok-3', undefined]);
  });

  it('a WeCom error other than 95007 fails the run without retrying tokenless, and the mark stays for a retry', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = new PagedSource(new Map([[undefined, { messages: [msg('m1')], next: 'c1' }]]));
    source.failures.push(Object.assign(new Error('busy'), { errcode: 45009 }));
    const handed: string[] = [];
    const loop = makeLoop({ source, coordinator, sink: async (m) => void handed.push(m.msgid) });
    await loop.notify('tok');
    await loop.idle();
    expect(source.calls).toHaveLength(1);
    expect(handed).toEqual([]);
    expect(await coordinator.hasPending(KF)).toBe(true);
  });

  it("hands on each user's messages in order, different users side by side", async () => {
    const coordinator = new MemorySyncCoordinator();
    const page = [msg('a1', 'ua'), msg('b1', 'ub'), msg('a2', 'ua'), msg('b2', 'ub'), msg('a3', 'ua')];
    const source = new PagedSource(new Map([[undefined, { messages: page, next: 'c1' }]]));
    const log: string[] = [];
    let releaseA!: () => void;
    const aBlocked = new Promise<void>((r) => (releaseA = r));
    const loop = makeLoop({
      source,
      coordinator,
      sink: async (m) => {
        log.push(`start:${m.msgid}`);
        if (m.msgid === 'a1') await aBlocked;
        if (m.msgid === 'b2') releaseA();
        log.push(`end:${m.msgid}`);
      },
    });
    await loop.notify(null);
    await loop.idle();
    // User b went on while a1 was blocked; user a's messages stayed in order.
    expect(log.indexOf('end:b2')).toBeLessThan(log.indexOf('end:a1'));
    const aOrder = log.filter((l) => l.startsWith('start:a'));
    expect(aOrder).toEqual(['start:a1', 'start:a2', 'start:a3']);
    expect(log.indexOf('start:a2')).toBeGreaterThan(log.indexOf('end:a1'));
  });

  it('a callback while a pull runs makes the loop go round once more', async () => {
    const coordinator = new MemorySyncCoordinator();
    const source = new PagedSource(new Map([[undefined, { messages: [msg('m1')], next: 'c1' }]]));
    let notified = false;
    const loop = makeLoop({
      source,
      coordinator,
      sink: async () => {
        if (!notified) {
          notified = true;
          await loop.notify(null);
        }
      },
    });
    await loop.notify(null);
    await loop.idle();
    expect(source.calls.map((c) => c.cursor)).toEqual([undefined, 'c1']);
    expect(await coordinator.hasPending(KF)).toBe(false);
  });

  it('does not pull while another holder has the lease, and leaves the mark for it', async () => {
    const coordinator = new MemorySyncCoordinator();
    const other = (await coordinator.tryAcquire(KF, 60_000))!;
    const source = new PagedSource(new Map());
    const loop = makeLoop({ source, coordinator, sink: async () => {} });
    await loop.notify(null);
    await loop.idle();
    expect(source.calls).toHaveLength(0);
    expect(await other.takePending()).toBe(true);
    await other.release();
  });
});
