import type { SyncCoordinator, SyncLease } from '../../src/state/sync-coordinator.js';

/**
 * A coordinator that passes everything to `inner`, with the lease methods `wrap` returns put in place of the
 * lease's own (called with the real lease, so a replacement can still call through).
 */
export function wrapLease(inner: SyncCoordinator, wrap: (lease: SyncLease) => Partial<SyncLease>): SyncCoordinator {
  return {
    notePending: (k, t) => inner.notePending(k, t),
    hasPending: (k) => inner.hasPending(k),
    close: () => inner.close(),
    async tryAcquire(k, ms) {
      const lease = await inner.tryAcquire(k, ms);
      if (!lease) return null;
      return {
        fence: lease.fence,
        takePending: () => lease.takePending(),
        callbackToken: () => lease.callbackToken(),
        cursor: () => lease.cursor(),
        commitCursor: (c) => lease.commitCursor(c),
        renew: (m) => lease.renew(m),
        release: () => lease.release(),
        ...wrap(lease),
      };
    },
  };
}
