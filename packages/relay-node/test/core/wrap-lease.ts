import { noteThenTryAcquire, takeThenRelease, type SyncCoordinator, type SyncLease } from '../../src/state/sync-coordinator.js';

/**
 * A coordinator that passes everything to `inner`, with the lease methods `wrap` returns put in place of the
 * lease's own (called with the real lease, so a replacement can still call through). The combined steps run as their
 * two parts, so a replaced part is what they run.
 */
export function wrapLease(inner: SyncCoordinator, wrap: (lease: SyncLease) => Partial<SyncLease>): SyncCoordinator {
  const coordinator: SyncCoordinator = {
    notePending: (k, t) => inner.notePending(k, t),
    noteAndTryAcquire: (k, t, ms) => noteThenTryAcquire(coordinator, k, t, ms),
    hasPending: (k) => inner.hasPending(k),
    close: () => inner.close(),
    async tryAcquire(k, ms) {
      const lease = await inner.tryAcquire(k, ms);
      if (!lease) return null;
      const wrapped: SyncLease = {
        fence: lease.fence,
        takePending: () => lease.takePending(),
        callbackToken: () => lease.callbackToken(),
        cursor: () => lease.cursor(),
        commitCursor: (c, ms) => lease.commitCursor(c, ms),
        renew: (m) => lease.renew(m),
        release: () => lease.release(),
        takePendingOrRelease: () => takeThenRelease(wrapped),
        takeGathered: () => lease.takeGathered(),
        ...wrap(lease),
      };
      return wrapped;
    },
  };
  return coordinator;
}
