import type { SyncMsgResponse } from '@wecom-relay/shared';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { uniquePrefix } from '@wecom-relay/testkit';
import { SyncLoop, type PageSink, type SyncSource } from '../../src/inbound/sync-loop.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { RedisSyncCoordinator } from '../../src/state/redis/index.js';
import { ownRedisServer, sending } from './helpers.js';

/**
 * A pull on Redis reads what it asks for next in the steps it takes anyway: a callback's note also acquires a free
 * lease, taking the pending mark and reading the cursor and callback token, a cursor commit also takes the mark and reads
 * the token, the last take also lets the lease go, and a note says whether a lease is held. Commands are counted as the client sends them, so going back to a round trip per
 * ask fails here; the rest checks that a mark cleared ahead is never lost.
 */
const own = ownRedisServer();
const KF = 'wk-round-trips';

const loops: SyncLoop[] = [];
afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.close();
});

/** Pages by cursor, each answered with has_more 0 unless it says otherwise; records the cursor and token of every ask. */
function source(pages: Record<string, Partial<SyncMsgResponse>>): SyncSource & { asks: Array<{ cursor?: string; token?: string }> } {
  const asks: Array<{ cursor?: string; token?: string }> = [];
  return {
    asks,
    async syncMsg(req) {
      asks.push({ ...(req.cursor ? { cursor: req.cursor } : {}), ...(req.token ? { token: req.token } : {}) });
      return { errcode: 0, errmsg: 'ok', has_more: 0, ...(pages[req.cursor ?? ''] ?? { next_cursor: req.cursor }) } as SyncMsgResponse;
    },
  };
}

function loopOn(coordinator: RedisSyncCoordinator, src: SyncSource, pageSink: PageSink = async () => {}, coalesceMs = 0): SyncLoop {
  const loop = new SyncLoop({
    openKfid: KF,
    source: src,
    coordinator,
    sink: async () => {},
    pageSink,
    logger: pino({ level: 'silent' }),
    metrics: createMetrics('sync-round-trips'),
    pollIntervalMs: 3_600_000,
    retryDelayMs: 3_600_000,
    leaseMs: 60_000,
    coalesceMs,
  });
  loops.push(loop);
  return loop;
}

describe('a pull on Redis', () => {
  it('of one page costs the note with the acquire, the commit, and the take with the release: three round trips', async () => {
    const coordinator = new RedisSyncCoordinator({ redis: own.redis, prefix: uniquePrefix('sync-rt') });
    const warm = await coordinator.noteAndTryAcquire(KF, 'warm-up', 60_000);
    await warm!.commitCursor('c0');
    // The first take was read by the commit; the second loads the take script, so every call below is one EVALSHA.
    expect(await warm!.takePendingOrRelease()).toBe('pull');
    expect(await warm!.takePendingOrRelease()).toBe('done');
    const src = source({ c0: { next_cursor: 'c1' } });
    const loop = loopOn(coordinator, src);

    const { sent } = await sending(own.redis, async () => {
      await loop.notify('tok-1');
      await loop.idle();
    });

    expect(src.asks).toEqual([{ cursor: 'c0', token: 'tok-1' }]);
    expect(await coordinator.tryAcquire(KF, 1).then((lease) => lease?.cursor())).toBe('c1');
    // noteAndTryAcquire (note, take, cursor, token), commit (take, token), takePendingOrRelease (nothing new: released).
    expect(sent).toEqual(['evalsha', 'evalsha', 'evalsha']);
  });

  it('a callback noted while a page is routed is pulled for by the same lease, with its token', async () => {
    const coordinator = new RedisSyncCoordinator({ redis: own.redis, prefix: uniquePrefix('sync-rt') });
    const src = source({ '': { next_cursor: 'c1' }, c1: { next_cursor: 'c1' } });
    let routed = 0;
    // Another node's callback lands while the first page is routed: its own kick finds the lease held.
    const loop = loopOn(coordinator, src, async () => {
      if (routed++ === 0) await coordinator.notePending(KF, 'tok-2');
    });
    await loop.notify('tok-1');
    await loop.idle();
    expect(src.asks).toEqual([{ token: 'tok-1' }, { cursor: 'c1', token: 'tok-2' }]);
    expect(await coordinator.hasPending(KF)).toBe(false);
  });

  it('callbacks noted while a new holder waits to coalesce share its one pull, with the newest token', async () => {
    const coordinator = new RedisSyncCoordinator({ redis: own.redis, prefix: uniquePrefix('sync-rt') });
    const src = source({ '': { next_cursor: 'c1' } });
    const loop = loopOn(coordinator, src, async () => {}, 300);
    const { sent } = await sending(own.redis, async () => {
      await loop.notify('tok-1');
      // WeCom's callbacks to the other nodes land together with this node's, as the holder waits.
      await coordinator.notePending(KF, 'tok-2');
      await coordinator.notePending(KF, 'tok-3');
      await loop.idle();
    });
    expect(src.asks).toEqual([{ token: 'tok-3' }]);
    expect(await coordinator.hasPending(KF)).toBe(false);
    // The wait's take reads the cursor and token with it: no read of its own before the pull (scripts only, a first
    // call of one loading it by EVAL).
    expect(sent.filter((c) => c !== 'evalsha' && c !== 'eval')).toEqual([]);
  });

  it('a callback noted during the pull that coalesced others gets a pull of its own', async () => {
    const coordinator = new RedisSyncCoordinator({ redis: own.redis, prefix: uniquePrefix('sync-rt') });
    const src = source({ '': { next_cursor: 'c1' }, c1: { next_cursor: 'c1' } });
    let routed = 0;
    const loop = loopOn(
      coordinator,
      src,
      async () => {
        // It may announce what the page being routed does not hold.
        if (routed++ === 0) await coordinator.notePending(KF, 'tok-3');
      },
      300,
    );
    await loop.notify('tok-1');
    await coordinator.notePending(KF, 'tok-2');
    await loop.idle();
    expect(src.asks).toEqual([{ token: 'tok-2' }, { cursor: 'c1', token: 'tok-3' }]);
    expect(await coordinator.hasPending(KF)).toBe(false);
  });

  it('a holder that lost its lease while it waited to coalesce leaves its pull to the newer holder', async () => {
    const prefix = uniquePrefix('sync-rt');
    const coordinator = new RedisSyncCoordinator({ redis: own.redis, prefix });
    const src = source({});
    const loop = loopOn(coordinator, src, async () => {}, 300);
    await loop.notify('tok-1');
    // The lease runs out (a pause of the whole process, say) and another node takes it before the wait ends.
    await own.redis.del(`${prefix}{kf:${KF}}:lease`);
    const newer = (await coordinator.tryAcquire(KF, 60_000))!;
    await loop.idle();
    expect(src.asks).toEqual([]);
    expect(await newer.takePendingOrRelease()).toBe('pull');
  });

  it('a callback on a node while another node pulls costs the note alone; the holder pulls for it', async () => {
    const coordinator = new RedisSyncCoordinator({ redis: own.redis, prefix: uniquePrefix('sync-rt') });
    await coordinator.notePending(KF, null);
    const holder = (await coordinator.tryAcquire(KF, 60_000))!;
    expect(await holder.takePending()).toBe(true);
    const src = source({});
    const loop = loopOn(coordinator, src);
    const { sent } = await sending(own.redis, async () => {
      await loop.notify('tok-1');
      await loop.idle();
    });
    expect(sent).toEqual(['evalsha']);
    expect(src.asks).toEqual([]);
    // The holder's release reads the mark: it pulls again.
    expect(await holder.release()).toBe(true);
  });

  it('a mark a commit cleared is set again when the lease goes without pulling for it', async () => {
    const coordinator = new RedisSyncCoordinator({ redis: own.redis, prefix: uniquePrefix('sync-rt') });
    await coordinator.notePending(KF, null);
    const lease = (await coordinator.tryAcquire(KF, 60_000))!;
    expect(await lease.takePending()).toBe(true);
    await coordinator.notePending(KF, null);
    expect(await lease.commitCursor('c1')).toBe(true);
    // The commit took the mark; the holder stops (closing, say) before asking for it.
    expect(await coordinator.hasPending(KF)).toBe(false);
    expect(await lease.release()).toBe(true);
    expect(await coordinator.hasPending(KF)).toBe(true);
    // Taken and then pulled for, it is not set again.
    const next = (await coordinator.tryAcquire(KF, 60_000))!;
    expect(await next.takePending()).toBe(true);
    expect(await next.takePending()).toBe(false);
    expect(await next.release()).toBe(false);
    expect(await coordinator.hasPending(KF)).toBe(false);
  });

  it('a lost lease still puts back the mark it cleared, and its release frees nobody else’s lease', async () => {
    const coordinator = new RedisSyncCoordinator({ redis: own.redis, prefix: uniquePrefix('sync-rt') });
    await coordinator.notePending(KF, null);
    const stale = (await coordinator.tryAcquire(KF, 50))!;
    await new Promise((resolve) => setTimeout(resolve, 80));
    const newer = (await coordinator.tryAcquire(KF, 60_000))!;
    expect(await stale.release()).toBe(true);
    expect(await coordinator.tryAcquire(KF, 60_000)).toBeNull();
    expect(await newer.takePending()).toBe(true);
    expect(await newer.release()).toBe(false);
  });
});
