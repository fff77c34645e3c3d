import { GatewaySessionClosedError } from './session-closed-error.js';

/** Bytes counted against the budget until released; release is idempotent. */
export interface BudgetCharge {
  /** Bytes currently counted. */
  readonly bytes: number;
  /** Changes the counted bytes (e.g. an estimate replaced by the real size). */
  resize(bytes: number): void;
  release(): void;
}

/** What the budget needs of a gateway socket. */
export interface BudgetOwnerHooks {
  /** Bytes still waiting in the socket's write buffer (ws bufferedAmount): a falling figure is progress. */
  buffered(): number;
  /** The gateway stayed over its share without progress for the grace period; close it (4009). */
  onStuck(): void;
}

/** Options for {@link SendBudget}. */
export interface SendBudgetOptions {
  /** Node-wide bytes of frames waiting in gateway sockets plus media in flight. */
  totalBytes: number;
  /** How long a gateway may stay over its share without progress before it is reported stuck. */
  graceMs: number;
  /** How often shares are checked; default min(1 s, graceMs / 2). */
  checkEveryMs?: number;
  now?: () => number;
}

interface Owner {
  readonly hooks: BudgetOwnerHooks;
  socketBytes: number;
  mediaBytes: number;
  /** Socket bytes released so far; a rise means frames left the buffer. */
  flushed: number;
  overSince: number | undefined;
  /** Buffered and flushed bytes when the grace period (re)started. */
  markBuffered: number;
  markFlushed: number;
  stuck: boolean;
}

interface Waiter {
  readonly ownerId: string;
  readonly ready: () => boolean;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/**
 * One node-wide byte budget for what the relay holds on behalf of gateways that are slow to read: frames written
 * but still in a socket's buffer, and media being fetched and encoded for them (raw bytes, base64 and frame
 * copies). Each gateway holding bytes gets an equal share. A gateway with bytes still in its socket and over its
 * share (or the node over budget) is paused: its next frame waits. One that stays over its share without its
 * buffer draining for the grace period is reported stuck so it can be closed (4009); its events stay queued.
 * An empty socket always takes one frame, so a single frame larger than any share still goes out.
 */
export class SendBudget {
  private readonly owners = new Map<string, Owner>();
  private readonly waiters: Waiter[] = [];
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly o: SendBudgetOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Bytes counted node-wide. */
  get usedBytes(): number {
    return this.used;
  }

  /** The configured node-wide budget. */
  get totalBytes(): number {
    return this.o.totalBytes;
  }

  /** Each busy gateway's share: the budget split evenly between gateways that hold bytes or wait for some. */
  share(): number {
    const busy = new Set<string>();
    for (const [id, owner] of this.owners) if (owner.socketBytes + owner.mediaBytes > 0) busy.add(id);
    for (const waiter of this.waiters) busy.add(waiter.ownerId);
    return this.o.totalBytes / Math.max(1, busy.size);
  }

  /** Starts accounting for a gateway socket. */
  register(ownerId: string, hooks: BudgetOwnerHooks): void {
    this.owners.set(ownerId, {
      hooks,
      socketBytes: 0,
      mediaBytes: 0,
      flushed: 0,
      overSince: undefined,
      markBuffered: 0,
      markFlushed: 0,
      stuck: false,
    });
    if (this.timer === undefined) {
      const every = this.o.checkEveryMs ?? Math.max(1, Math.min(1_000, Math.floor(this.o.graceMs / 2)));
      this.timer = setInterval(() => this.check(), every);
      this.timer.unref();
    }
  }

  /** The socket closed: whatever of it still waits is refused; its charges stay until their writes settle. */
  unregister(ownerId: string): void {
    if (!this.owners.delete(ownerId)) return;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i]!;
      if (waiter.ownerId !== ownerId) continue;
      this.waiters.splice(i, 1);
      waiter.reject(new GatewaySessionClosedError());
    }
    if (this.owners.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.wake();
  }

  /** True while the gateway's socket is accounted for. */
  isRegistered(ownerId: string): boolean {
    return this.owners.has(ownerId);
  }

  /** Whether the gateway may write a frame now (see the class comment); true for sockets not accounted for. */
  canWrite(ownerId: string): boolean {
    const owner = this.owners.get(ownerId);
    if (owner === undefined || owner.socketBytes === 0) return true;
    return owner.socketBytes + owner.mediaBytes < this.share() && this.used < this.o.totalBytes;
  }

  /** Resolves once the gateway may write; rejects (GatewaySessionClosedError) if its socket closes first. */
  whenWritable(ownerId: string): Promise<void> {
    if (this.canWrite(ownerId)) return Promise.resolve();
    return this.enqueue(ownerId, () => this.canWrite(ownerId));
  }

  /** Counts bytes written to the gateway's socket until released (when the write is flushed or fails). */
  chargeSocket(ownerId: string, bytes: number): BudgetCharge {
    return this.charge(this.owners.get(ownerId), 'socketBytes', bytes);
  }

  /**
   * Counts media fetched for the gateway, waiting until it fits the node budget (or nothing else is counted, so
   * a file larger than the budget still goes alone). Rejects if the gateway's socket closes first.
   */
  async reserveMedia(ownerId: string, bytes: number): Promise<BudgetCharge> {
    if (!this.owners.has(ownerId)) throw new GatewaySessionClosedError();
    const fits = (): boolean => this.used === 0 || this.used + bytes <= this.o.totalBytes;
    if (!fits()) await this.enqueue(ownerId, fits);
    const owner = this.owners.get(ownerId);
    if (owner === undefined) throw new GatewaySessionClosedError();
    return this.charge(owner, 'mediaBytes', bytes);
  }

  private charge(owner: Owner | undefined, kind: 'socketBytes' | 'mediaBytes', bytes: number): BudgetCharge {
    let counted = 0;
    let released = false;
    const set = (next: number): void => {
      const delta = next - counted;
      counted = next;
      this.used += delta;
      if (owner !== undefined) owner[kind] += delta;
    };
    set(Math.max(0, bytes));
    return {
      get bytes() {
        return counted;
      },
      resize: (next: number) => {
        if (released) return;
        const shrinking = next < counted;
        set(Math.max(0, next));
        if (shrinking) this.wake();
      },
      release: () => {
        if (released) return;
        released = true;
        if (owner !== undefined && kind === 'socketBytes') owner.flushed += counted;
        set(0);
        this.wake();
      },
    };
  }

  private enqueue(ownerId: string, ready: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => this.waiters.push({ ownerId, ready, resolve, reject }));
  }

  /** Lets every waiter whose condition now holds go on, oldest first. */
  private wake(): void {
    for (let i = 0; i < this.waiters.length; ) {
      const waiter = this.waiters[i]!;
      if (waiter.ready()) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      } else {
        i += 1;
      }
    }
  }

  /**
   * Finds gateways whose socket buffers have not moved for the grace period while they are at or past their share
   * (they are paused then, see canWrite) or while others wait for the budget: memory held by a gateway that does
   * not read must not keep the gateways that do from being served.
   */
  check(): void {
    const now = this.now();
    const share = this.share();
    const contended = this.waiters.length > 0;
    for (const owner of this.owners.values()) {
      const over = owner.socketBytes > 0 && (contended || owner.socketBytes + owner.mediaBytes >= share);
      if (!over || owner.stuck) {
        owner.overSince = undefined;
        continue;
      }
      const buffered = owner.hooks.buffered();
      if (owner.overSince === undefined) {
        owner.overSince = now;
        owner.markBuffered = buffered;
        owner.markFlushed = owner.flushed;
        continue;
      }
      if (buffered < owner.markBuffered || owner.flushed > owner.markFlushed) {
        // Slow but reading: the grace period starts again from here.
        owner.overSince = now;
        owner.markBuffered = buffered;
        owner.markFlushed = owner.flushed;
        continue;
      }
      if (now - owner.overSince >= this.o.graceMs) {
        owner.stuck = true;
        try {
          owner.hooks.onStuck();
        } catch {
          // The owner's close path logs its own failures; one gateway must not stop the check of the others.
        }
      }
    }
  }
}
