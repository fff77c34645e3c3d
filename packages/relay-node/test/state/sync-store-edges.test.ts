import { describe, expect, it } from 'vitest';
import type { SyncCoordinator } from '../../src/state/index.js';
import { MemorySyncCoordinator } from '../../src/state/memory/index.js';
import { SqliteLeaseTable, SqliteSyncCoordinator, openSqliteDatabase } from '../../src/state/sqlite/index.js';
import { manualClock, sqliteFiles } from './store-edges-kit.js';

const files = sqliteFiles('sync-store-edges-');
const KF = 'wkAAAAAAAA';

const backends: Array<[string, (now: () => number) => SyncCoordinator]> = [
  ['memory', (now) => new MemorySyncCoordinator({ now })],
  ['sqlite', (now) => new SqliteSyncCoordinator(files.fresh(), { now })],
];

describe.each(backends)('SyncCoordinator edges: %s', (_name, make) => {
  it('a lease can be taken over exactly when its ttl has passed', async () => {
    const clock = manualClock();
    const sync = make(clock.now);
    const first = (await sync.tryAcquire(KF, 1_000))!;
    clock.advance(999);
    expect(await sync.tryAcquire(KF, 1_000)).toBeNull();
    clock.advance(1);
    const next = await sync.tryAcquire(KF, 1_000);
    expect(next?.fence).toBeGreaterThan(first.fence);
  });

  it('a released lease can neither write, take the pending mark nor renew, even while no one else holds it', async () => {
    const clock = manualClock();
    const sync = make(clock.now);
    const lease = (await sync.tryAcquire(KF, 60_000))!;
    expect(await lease.commitCursor('before')).toBe(true);
    await lease.release();
    await sync.notePending(KF, null);
    expect(await lease.commitCursor('after')).toBe(false);
    expect(await lease.takePending()).toBe(false);
    expect(await sync.hasPending(KF)).toBe(true);
    expect(await lease.renew(60_000)).toBe(false);
    const next = (await sync.tryAcquire(KF, 60_000))!;
    expect(next).not.toBeNull();
    expect(await next.cursor()).toBe('before');
  });

  it('a fresh kf account has nothing pending, even after a lease was taken', async () => {
    const sync = make(Date.now);
    const lease = (await sync.tryAcquire(KF, 60_000))!;
    expect(await sync.hasPending(KF)).toBe(false);
    expect(await lease.takePending()).toBe(false);
    expect(await lease.callbackToken()).toBeNull();
    expect(await lease.cursor()).toBeNull();
  });

  it('a stale holder stays refused after the newer holder released too', async () => {
    const clock = manualClock();
    const sync = make(clock.now);
    const stale = (await sync.tryAcquire(KF, 1_000))!;
    clock.advance(1_000);
    const newer = (await sync.tryAcquire(KF, 1_000))!;
    await newer.release();
    expect(await stale.renew(60_000)).toBe(false);
    await stale.release();
    expect(await stale.commitCursor('stale')).toBe(false);
    expect(await sync.tryAcquire(KF, 1_000)).not.toBeNull();
  });

  it('an older callback token never replaces a newer one, even when the clock steps back', async () => {
    const clock = manualClock(2_000_000);
    const sync = make(clock.now);
    await sync.notePending(KF, 'ENC-new');
    clock.set(1_000_000);
    await sync.notePending(KF, 'ENC-old');
    const lease = (await sync.tryAcquire(KF, 60_000))!;
    expect(await lease.callbackToken()).toEqual({ value: 'ENC-new', receivedAt: 2_000_000 });
  });
});

describe('SqliteSyncCoordinator on a file two processes share (one lease table each)', () => {
  it('a holder whose fence another process moved on can no longer renew, write or take the mark', async () => {
    const first = files.fresh();
    const second = openSqliteDatabase(first.name);
    try {
      const a = new SqliteSyncCoordinator(first, { leases: new SqliteLeaseTable() });
      const b = new SqliteSyncCoordinator(second, { leases: new SqliteLeaseTable() });
      const leaseA = (await a.tryAcquire(KF, 60_000))!;
      // b cannot see a's in-memory lease, so it takes the next fence.
      const leaseB = (await b.tryAcquire(KF, 60_000))!;
      expect(leaseB.fence).toBeGreaterThan(leaseA.fence);
      await a.notePending(KF, null);
      expect(await leaseA.renew(60_000)).toBe(false);
      expect(await leaseA.commitCursor('from-a')).toBe(false);
      expect(await leaseA.takePending()).toBe(false);
      expect(await leaseB.takePending()).toBe(true);
    } finally {
      second.close();
    }
  });
});

describe('SqliteLeaseTable', () => {
  it('clears a holder only with its own fence, and clearing an unknown account is harmless', () => {
    const table = new SqliteLeaseTable();
    table.set(KF, 2, 5_000);
    table.clear(KF, 1);
    expect(table.get(KF)).toEqual({ fence: 2, expiresAt: 5_000 });
    table.clear('wk-unknown', 1);
    table.clear(KF, 2);
    expect(table.get(KF)).toBeUndefined();
    table.clear(KF, 2);
  });
});
