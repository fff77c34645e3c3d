/** A callback due at a tick of a {@link TimerWheel}; cancelling is idempotent. */
export interface WheelTimer {
  cancel(): void;
}

/**
 * Something with timers on a wheel: told which of its timers is due by the `kind` it scheduled it with. Sockets
 * implement it with a method rather than handing the wheel a closure per timer, so an idle socket's deadlines cost
 * one small entry each and no function objects.
 */
export interface WheelTarget {
  onWheelTimer(kind: number): void;
}

/** One scheduled timer; the wheel keeps it in its slot's set until it fires or is cancelled. */
export class WheelEntry implements WheelTimer {
  constructor(
    private readonly wheel: TimerWheel,
    readonly slot: number,
    readonly target: WheelTarget,
    readonly kind: number,
  ) {}

  cancel(): void {
    this.wheel.remove(this);
  }
}

/** Adapts a plain callback to a target, for timers that are rare enough not to need a method of their own. */
class CallbackTarget implements WheelTarget {
  constructor(private readonly fn: () => void) {}

  onWheelTimer(): void {
    this.fn();
  }
}

/**
 * One Node timer for many sockets' deadlines (hello timeouts, pings, pong deadlines): callbacks are kept in slots of
 * `tickMs` and one interval runs the due slot. A deadline fires between its delay and one tick later, which is
 * plenty for timeouts of seconds, and tens of thousands of sockets cost one timer instead of two or three each.
 * Ticks are counted rather than read from a clock, so a late tick delays its callbacks but never skips them.
 */
export class TimerWheel {
  private readonly slots = new Map<number, Set<WheelEntry>>();
  private tick = 0;
  private size = 0;
  private interval: NodeJS.Timeout | undefined;

  /** @param onError receives anything a callback throws, so one socket's failure never stops the others'. */
  constructor(
    private readonly tickMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Runs `fn` once, at the first tick at least `delayMs` from now. */
  after(delayMs: number, fn: () => void): WheelTimer {
    return this.schedule(delayMs, new CallbackTarget(fn), 0);
  }

  /** Calls `target.onWheelTimer(kind)` once, at the first tick at least `delayMs` from now. */
  schedule(delayMs: number, target: WheelTarget, kind: number): WheelTimer {
    const slot = this.tick + Math.max(1, Math.ceil(delayMs / this.tickMs));
    const entry = new WheelEntry(this, slot, target, kind);
    let set = this.slots.get(slot);
    if (set === undefined) this.slots.set(slot, (set = new Set()));
    set.add(entry);
    this.size += 1;
    // The interval runs only while something is due, so an idle node (or a closed server) holds no timer.
    if (this.interval === undefined) {
      this.interval = setInterval(() => this.advance(), this.tickMs);
      this.interval.unref();
    }
    return entry;
  }

  /** Callbacks waiting. */
  get pending(): number {
    return this.size;
  }

  /** Drops every waiting callback and the interval. */
  stop(): void {
    this.slots.clear();
    this.size = 0;
    this.idle();
  }

  /** Forgets a waiting entry (what {@link WheelTimer.cancel} does); an entry already run or removed changes nothing. */
  remove(entry: WheelEntry): void {
    const set = this.slots.get(entry.slot);
    if (set === undefined || !set.delete(entry)) return;
    this.size -= 1;
    if (set.size === 0) this.slots.delete(entry.slot);
    if (this.size === 0) this.idle();
  }

  private advance(): void {
    this.tick += 1;
    const due = this.slots.get(this.tick);
    if (due === undefined) return;
    this.slots.delete(this.tick);
    this.size -= due.size;
    for (const entry of due) {
      try {
        entry.target.onWheelTimer(entry.kind);
      } catch (err) {
        this.onError(err);
      }
    }
    if (this.size === 0) this.idle();
  }

  private idle(): void {
    clearInterval(this.interval);
    this.interval = undefined;
  }
}
