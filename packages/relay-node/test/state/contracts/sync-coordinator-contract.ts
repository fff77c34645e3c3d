import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { SyncCoordinator } from '../../../src/state/index.js';
import { SHORT_TTL_MS, PAST_SHORT_TTL_MS, LONG_TTL_MS, tracked } from './contract-helpers.js';

/** SyncCoordinator: one puller per kf account, fenced cursor writes, pending marks that are never lost. */
export function syncCoordinatorContract(name: string, make: () => Promise<SyncCoordinator>): void {
  describe(`SyncCoordinator contract: ${name}`, () => {
    const fresh = tracked(make);
    const KF = 'wkAAAAAAAA';

    it('hands out one lease at a time; after release the next lease has a higher fence', async () => {
      const sync = await fresh();
      const first = await sync.tryAcquire(KF, LONG_TTL_MS);
      expect(first).not.toBeNull();
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      await first!.release();
      const second = await sync.tryAcquire(KF, LONG_TTL_MS);
      expect(second).not.toBeNull();
      expect(second!.fence).toBeGreaterThan(first!.fence);
      await second!.release();
    });

    it('concurrent acquirers: exactly one gets the lease', async () => {
      const sync = await fresh();
      const leases = await Promise.all(Array.from({ length: 10 }, () => sync.tryAcquire(KF, LONG_TTL_MS)));
      expect(leases.filter((lease) => lease !== null)).toHaveLength(1);
    });

    it('leases of different kf accounts are independent', async () => {
      const sync = await fresh();
      const a = await sync.tryAcquire('wk-one', LONG_TTL_MS);
      const b = await sync.tryAcquire('wk-two', LONG_TTL_MS);
      expect(a).not.toBeNull();
      expect(b).not.toBeNull();
      expect(await b!.commitCursor('cursor-two')).toBe(true);
      expect(await a!.cursor()).toBeNull();
    });

    it('a pending mark is seen, taken once, and then cleared', async () => {
      const sync = await fresh();
      expect(await sync.hasPending(KF)).toBe(false);
      await sync.notePending(KF, null);
      expect(await sync.hasPending(KF)).toBe(true);
      const lease = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await lease.takePending()).toBe(true);
      expect(await sync.hasPending(KF)).toBe(false);
      expect(await lease.takePending()).toBe(false);
      expect(await lease.release()).toBe(false);
    });

    it('a note says whether a lease is held as it is set, so a node can leave the mark to the holder', async () => {
      const sync = await fresh();
      expect(await sync.notePending(KF, null)).toBe(false);
      const lease = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await sync.notePending(KF, 'token-1')).toBe(true);
      expect(await sync.notePending('wk-other', null)).toBe(false);
      await lease.release();
      expect(await sync.notePending(KF, null)).toBe(false);
    });

    it('a callback noted while a lease is held is still pending after release', async () => {
      const sync = await fresh();
      await sync.notePending(KF, 'token-1');
      const lease = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await lease.takePending()).toBe(true);
      // A second callback lands mid-pull; its tryAcquire fails, so only the mark carries it.
      await sync.notePending(KF, 'token-2');
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      // The release says so, read in the same step, so the holder pulls again rather than leave it for the next callback.
      expect(await lease.release()).toBe(true);
      expect(await sync.hasPending(KF)).toBe(true);
      const next = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await next.takePending()).toBe(true);
    });

    it('a note on a free account takes the lease in the same step; on a held one it leaves the mark to the holder', async () => {
      const sync = await fresh();
      const lease = await sync.noteAndTryAcquire(KF, 'token-1', LONG_TTL_MS);
      expect(lease).not.toBeNull();
      expect((await lease!.callbackToken())?.value).toBe('token-1');
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      expect(await lease!.takePendingOrRelease()).toBe('pull');
      // A second callback lands while the first is pulled for: its note finds the lease held and leaves the mark.
      expect(await sync.noteAndTryAcquire(KF, 'token-2', LONG_TTL_MS)).toBeNull();
      expect(await lease!.takePendingOrRelease()).toBe('pull');
      expect(await lease!.takePendingOrRelease()).toBe('done');
      expect(await sync.hasPending(KF)).toBe(false);
      const after = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(after.fence).toBeGreaterThan(lease!.fence);
      expect((await after.callbackToken())?.value).toBe('token-2');
    });

    it('the last take lets the lease go only when nothing is pending; a lease let go cannot write', async () => {
      const sync = await fresh();
      await sync.notePending(KF, null);
      const lease = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await lease.takePendingOrRelease()).toBe('pull');
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      await sync.notePending(KF, null);
      expect(await lease.takePendingOrRelease()).toBe('pull');
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      expect(await lease.takePendingOrRelease()).toBe('done');
      expect(await lease.commitCursor('after-release')).toBe(false);
      const next = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(next.fence).toBeGreaterThan(lease.fence);
      expect(await next.cursor()).toBeNull();
    });

    it('a take by a holder that lost its lease leaves the mark to the newer holder and says a pull is pending', async () => {
      const sync = await fresh();
      const stale = (await sync.tryAcquire(KF, SHORT_TTL_MS))!;
      await sleep(PAST_SHORT_TTL_MS);
      const newer = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await stale.takePendingOrRelease()).toBe('done');
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      await sync.notePending(KF, null);
      expect(await stale.takePendingOrRelease()).toBe('again');
      expect(await sync.hasPending(KF)).toBe(true);
      expect(await newer.takePendingOrRelease()).toBe('pull');
      expect(await newer.takePendingOrRelease()).toBe('done');
    });

    it('a gathered take clears the marks noted since the holder took its own, with the newest token, and keeps the lease', async () => {
      const sync = await fresh();
      const lease = (await sync.noteAndTryAcquire(KF, 'token-1', LONG_TTL_MS))!;
      expect(await lease.takePendingOrRelease()).toBe('pull');
      // Other callbacks land while the holder waits for them.
      expect(await sync.notePending(KF, 'token-2')).toBe(true);
      expect(await sync.notePending(KF, 'token-3')).toBe(true);
      expect(await lease.takeGathered()).toBe(true);
      expect(await sync.hasPending(KF)).toBe(false);
      expect((await lease.callbackToken())?.value).toBe('token-3');
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      // A callback after the gathered take is a pull of its own.
      await sync.notePending(KF, null);
      expect(await lease.takePendingOrRelease()).toBe('pull');
      expect(await lease.takePendingOrRelease()).toBe('done');
    });

    it('a holder that lost its lease while it waited gathers nothing: the marks stay for the newer holder', async () => {
      const sync = await fresh();
      await sync.notePending(KF, null);
      const stale = (await sync.tryAcquire(KF, SHORT_TTL_MS))!;
      expect(await stale.takePendingOrRelease()).toBe('pull');
      await sleep(PAST_SHORT_TTL_MS);
      const newer = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      await sync.notePending(KF, null);
      expect(await stale.takeGathered()).toBe(false);
      expect(await sync.hasPending(KF)).toBe(true);
      expect(await newer.takePendingOrRelease()).toBe('pull');
    });

    it('stores the cursor for the next holder', async () => {
      const sync = await fresh();
      const first = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await first.cursor()).toBeNull();
      expect(await first.commitCursor('cursor-1')).toBe(true);
      expect(await first.commitCursor('cursor-2')).toBe(true);
      expect(await first.cursor()).toBe('cursor-2');
      await first.release();
      const second = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await second.cursor()).toBe('cursor-2');
    });

    it('keeps the freshest callback token; a note without a token does not erase it', async () => {
      const sync = await fresh();
      const empty = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await empty.callbackToken()).toBeNull();
      await empty.release();
      await sync.notePending(KF, 'ENC-older');
      await sync.notePending(KF, 'ENC-newer');
      await sync.notePending(KF, null);
      const lease = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      const token = await lease.callbackToken();
      expect(token?.value).toBe('ENC-newer');
      expect(typeof token?.receivedAt).toBe('number');
    });

    it('a lease whose ttl passed can be taken over; the stale holder can no longer write', async () => {
      const sync = await fresh();
      const stale = (await sync.tryAcquire(KF, SHORT_TTL_MS))!;
      expect(await stale.commitCursor('from-stale-before')).toBe(true);
      await sleep(PAST_SHORT_TTL_MS);
      const fresh2 = await sync.tryAcquire(KF, LONG_TTL_MS);
      expect(fresh2).not.toBeNull();
      expect(fresh2!.fence).toBeGreaterThan(stale.fence);
      expect(await fresh2!.cursor()).toBe('from-stale-before');
      expect(await fresh2!.commitCursor('from-newer')).toBe(true);
      expect(await stale.commitCursor('from-stale-after')).toBe(false);
      expect(await fresh2!.cursor()).toBe('from-newer');
      expect(await stale.renew(LONG_TTL_MS)).toBe(false);
      // A stale holder must leave a new mark for the current holder.
      await sync.notePending(KF, null);
      expect(await stale.takePending()).toBe(false);
      expect(await sync.hasPending(KF)).toBe(true);
      // Its release is a no-op: the newer holder keeps the lease.
      await stale.release();
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      expect(await fresh2!.commitCursor('from-newer-2')).toBe(true);
      expect(await fresh2!.takePending()).toBe(true);
    });

    it('renew keeps the lease past its original ttl', async () => {
      const sync = await fresh();
      const lease = (await sync.tryAcquire(KF, 300))!;
      expect(await lease.renew(LONG_TTL_MS)).toBe(true);
      await sleep(450);
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      expect(await lease.commitCursor('still-mine')).toBe(true);
    });

    it('a commit given renewMs keeps the lease past its original ttl, as renew does; one without it does not', async () => {
      const sync = await fresh();
      const lease = (await sync.tryAcquire(KF, 300))!;
      expect(await lease.commitCursor('extended', LONG_TTL_MS)).toBe(true);
      await sleep(450);
      expect(await sync.tryAcquire(KF, LONG_TTL_MS)).toBeNull();
      expect(await lease.cursor()).toBe('extended');
      const other = 'wk-unextended';
      const plain = (await sync.tryAcquire(other, 300))!;
      expect(await plain.commitCursor('kept')).toBe(true);
      await sleep(450);
      const next = await sync.tryAcquire(other, LONG_TTL_MS);
      expect(next).not.toBeNull();
      expect(await next!.cursor()).toBe('kept');
    });

    it('a released lease cannot write', async () => {
      const sync = await fresh();
      const lease = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      await lease.release();
      const next = (await sync.tryAcquire(KF, LONG_TTL_MS))!;
      expect(await lease.commitCursor('old')).toBe(false);
      expect(await next.commitCursor('new')).toBe(true);
      expect(await next.cursor()).toBe('new');
    });
  });
}
