import { noteThenTryAcquire, takeThenRelease, type CallbackToken, type NextPull, type SyncCoordinator, type SyncLease } from '../sync-coordinator.js';

/** Options for {@link MemorySyncCoordinator}. */
export interface MemorySyncCoordinatorOptions {
  /** Clock in epoch ms; lease expiry and callback-token times come from it. */
  now?: () => number;
}

/** Everything known about one kf account's pulling. */
interface KfState {
  /** The last fence handed out; the lease carrying it is the only one allowed to write. */
  fence: number;
  holder: { fence: number; expiresAt: number } | null;
  pending: boolean;
  callbackToken: CallbackToken | null;
  cursor: string | null;
}

/** Sync coordination in process memory: one process, so the lease, mark and cursor live in a map. */
export class MemorySyncCoordinator implements SyncCoordinator {
  private readonly states = new Map<string, KfState>();
  private readonly now: () => number;

  constructor(options: MemorySyncCoordinatorOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Sets the pending mark and keeps the freshest callback token; resolves to whether a lease is held. */
  async notePending(openKfid: string, callbackToken: string | null): Promise<boolean> {
    const state = this.stateOf(openKfid);
    state.pending = true;
    if (callbackToken !== null) {
      const receivedAt = this.now();
      if (state.callbackToken === null || state.callbackToken.receivedAt <= receivedAt) {
        state.callbackToken = { value: callbackToken, receivedAt };
      }
    }
    return state.holder !== null && state.holder.expiresAt > this.now();
  }

  /** Whether a pull has been asked for and not yet taken. */
  async hasPending(openKfid: string): Promise<boolean> {
    return this.states.get(openKfid)?.pending ?? false;
  }

  /** Hands out the lease with the next fence, or null while an unexpired holder has it. */
  async tryAcquire(openKfid: string, leaseMs: number): Promise<SyncLease | null> {
    const state = this.stateOf(openKfid);
    const now = this.now();
    if (state.holder !== null && state.holder.expiresAt > now) return null;
    state.fence += 1;
    state.holder = { fence: state.fence, expiresAt: now + leaseMs };
    return new MemorySyncLease(state, state.fence, this.now);
  }

  /** notePending, then tryAcquire: in one process the two steps cost no round trip. */
  async noteAndTryAcquire(openKfid: string, callbackToken: string | null, leaseMs: number): Promise<SyncLease | null> {
    return await noteThenTryAcquire(this, openKfid, callbackToken, leaseMs);
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  private stateOf(openKfid: string): KfState {
    let state = this.states.get(openKfid);
    if (state === undefined) {
      state = { fence: 0, holder: null, pending: false, callbackToken: null, cursor: null };
      this.states.set(openKfid, state);
    }
    return state;
  }
}

/** One holder's lease; it may write only while no newer lease was handed out and it has not released. */
class MemorySyncLease implements SyncLease {
  private released = false;

  constructor(
    private readonly state: KfState,
    readonly fence: number,
    private readonly now: () => number,
  ) {}

  async takePending(): Promise<boolean> {
    // A stale holder must leave the mark for the newer holder, or that callback's messages would wait for the next one.
    if (!this.isNewest()) return false;
    const was = this.state.pending;
    this.state.pending = false;
    return was;
  }

  async callbackToken(): Promise<CallbackToken | null> {
    const token = this.state.callbackToken;
    return token === null ? null : { ...token };
  }

  async cursor(): Promise<string | null> {
    return this.state.cursor;
  }

  async commitCursor(cursor: string, renewMs?: number): Promise<boolean> {
    if (!this.isNewest()) return false;
    this.state.cursor = cursor;
    return renewMs === undefined || (await this.renew(renewMs));
  }

  async renew(leaseMs: number): Promise<boolean> {
    if (!this.isNewest()) return false;
    this.state.holder = { fence: this.fence, expiresAt: this.now() + leaseMs };
    return true;
  }

  async release(): Promise<boolean> {
    if (this.isNewest()) {
      this.released = true;
      this.state.holder = null;
    }
    return this.state.pending;
  }

  async takePendingOrRelease(): Promise<NextPull> {
    return await takeThenRelease(this);
  }

  async takeGathered(): Promise<boolean> {
    if (!this.isNewest()) return false;
    await this.takePending();
    return true;
  }

  private isNewest(): boolean {
    return !this.released && this.state.fence === this.fence;
  }
}
