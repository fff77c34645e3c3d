/**
 * Coordinates pulling kf/sync_msg for one kf account (open_kfid) across callbacks and nodes:
 * only one puller at a time (a lease), a cursor write that a stale holder cannot make (fencing),
 * and a pending mark so that a callback arriving mid-pull is never lost.
 *
 * Protocol for a puller:
 *   lease = noteAndTryAcquire(kf, token) (or notePending, then tryAcquire); if null → done: a holder has the lease and
 *   will see the mark (look again once it could have expired, should the holder die).
 *   loop { if takePendingOrRelease() is not 'pull', stop; (the first time, a holder that lets callbacks gather waits,
 *   then takeGathered(); stop if lost); pull pages from lease.cursor(), commitCursor after each page }
 *   on 'again' → try again (a callback landed that this holder did not take); a run that stops otherwise releases.
 */
export interface SyncCoordinator {
  /**
   * Records that WeCom announced new messages, with the callback's Token when it carried one. Resolves to whether a
   * lease was held as the mark was set, read in the same step: its holder sees the mark, so nobody else need try.
   */
  notePending(openKfid: string, callbackToken: string | null): Promise<boolean>;
  /** Whether a pull has been asked for and not yet taken. */
  hasPending(openKfid: string): Promise<boolean>;
  /** Becomes the only puller of this kf account for leaseMs, or null when another holder has it. */
  tryAcquire(openKfid: string, leaseMs: number): Promise<SyncLease | null>;
  /**
   * notePending and, where no lease is held, tryAcquire: the lease (its holder takes the mark just set), or null when
   * another holder has it and will see the mark. Redis does both in one step, a callback's one round trip.
   */
  noteAndTryAcquire(openKfid: string, callbackToken: string | null, leaseMs: number): Promise<SyncLease | null>;
  close(): Promise<void>;
}

/** The latest callback Token WeCom sent for a kf account, and when it arrived (epoch ms). */
export interface CallbackToken {
  value: string;
  receivedAt: number;
}

/** One holder's right to pull; every write checks the fence so a holder that lost the lease cannot act. */
export interface SyncLease {
  /** Strictly increasing per kf account across all holders. */
  readonly fence: number;
  /** Clears the pending mark; resolves to whether it was set. */
  takePending(): Promise<boolean>;
  /** The freshest callback token, if any was noted. */
  callbackToken(): Promise<CallbackToken | null>;
  /** The stored sync cursor, or null before the first pull. */
  cursor(): Promise<string | null>;
  /**
   * Stores the cursor only while this lease is the newest; false means the holder is stale and must stop. With
   * `renewMs`, the same step extends the lease that long, as renew does: a pull's pages need no renewal of their own.
   */
  commitCursor(cursor: string, renewMs?: number): Promise<boolean>;
  /** Extends the lease; false means it was lost. */
  renew(leaseMs: number): Promise<boolean>;
  /**
   * Gives the lease up (a no-op on the lease when it was already lost); resolves to whether a pull is pending as it
   * goes, read in the same step, so a callback noted after the last take is never left for the next one.
   */
  release(): Promise<boolean>;
  /**
   * takePending, and release where nothing was pending: 'pull' (the mark taken, the lease kept), 'done' (the lease given
   * up with nothing pending), or 'again' (the lease given up, or found lost, with a pull pending that this holder did not
   * take). Redis does both in one step, the end of every pull.
   */
  takePendingOrRelease(): Promise<NextPull>;
  /**
   * Clears the pending mark for the pull about to start, after takePendingOrRelease said 'pull' and the holder waited
   * for other callbacks to gather (see SyncLoopOptions.coalesceMs): marks noted meanwhile are that pull's. Resolves
   * false when the lease was lost (nothing is cleared then).
   */
  takeGathered(): Promise<boolean>;
}

/** What a holder does once a pull is over: see {@link SyncLease.takePendingOrRelease}. */
export type NextPull = 'pull' | 'done' | 'again';

/** noteAndTryAcquire as two steps, for a store where they need not be one. */
export async function noteThenTryAcquire(
  coordinator: Pick<SyncCoordinator, 'notePending' | 'tryAcquire'>,
  openKfid: string,
  callbackToken: string | null,
  leaseMs: number,
): Promise<SyncLease | null> {
  if (await coordinator.notePending(openKfid, callbackToken)) return null;
  return await coordinator.tryAcquire(openKfid, leaseMs);
}

/** takePendingOrRelease as two steps, for a store where they need not be one. */
export async function takeThenRelease(lease: Pick<SyncLease, 'takePending' | 'release'>): Promise<NextPull> {
  if (await lease.takePending()) return 'pull';
  return (await lease.release()) ? 'again' : 'done';
}
