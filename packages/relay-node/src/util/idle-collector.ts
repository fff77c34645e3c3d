import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/** Construction options for {@link IdleCollector}; every collaborator has a default for the real process. */
export interface IdleCollectorOptions {
  /** How long the event loop must stay quiet (busy under `busyBelow` of the time) before a collection. */
  quietMs: number;
  /**
   * Fewest milliseconds between two collections, whatever the load does. Default 5,000: a full collection of a few
   * tens of MB takes some 30 ms, so under 1 % of a core however the load comes and goes.
   */
  minGapMs?: number;
  /**
   * Event-loop utilization under which a window counts as quiet. Default 0.02: well under what a node serving traffic
   * spends (a few hundred messages a second is several per cent), above what heartbeats to 20,000 gateways cost.
   */
  busyBelow?: number;
  /** Heap growth since the last collection (bytes of V8 heap committed) worth giving back. Default 4 MiB. */
  minGrowthBytes?: number;
  /**
   * A count that grows with the node's message traffic (messages routed and delivered, say). While it grew within the
   * last `afterActivityMs`, no collection runs: the memory a busy spell grew serves the next one, and a collection that
   * gives it back also drops the machine code V8 compiled for that traffic, which the next spell pays to compile again
   * (three nodes running a burst, then a steady 2,000 msg/s a few seconds later, spent about a sixth more CPU per message
   * on the steady rate when they collected in between: 278 against 236 µs, medians of four relay-only `pnpm bench` runs
   * each, from 246–289 against 220–284). Without it, only the event loop decides.
   */
  activity?: () => number | Promise<number>;
  /** How long the `activity` count must stay still before a collection. Default 60,000. */
  afterActivityMs?: number;
  /** Fraction of the last `quietMs` the event loop was busy, since the previous call. */
  utilization?: () => number;
  /** V8 heap committed, in bytes. */
  heapBytes?: () => number;
  /** A full collection that also shrinks the young generation and returns its pages. */
  collect?: () => Promise<void>;
  now?: () => number;
  /** Told after each collection: how long it took, and the heap committed before and after. */
  onCollected?: (info: { ms: number; heapBefore: number; heapAfter: number }) => void;
  /** Told when a collection could not run (no inspector in this Node build, say); the collector then stops. */
  onFailed?: (err: unknown) => void;
}

const DEFAULT_MIN_GAP_MS = 5_000;
const DEFAULT_BUSY_BELOW = 0.02;
const DEFAULT_MIN_GROWTH = 4 * 1024 * 1024;
const DEFAULT_AFTER_ACTIVITY_MS = 60_000;

/**
 * Gives memory back once the node falls quiet. V8 keeps its young generation at the size a busy spell grew it to
 * (32 MB with Node's defaults) and old-space garbage until its next collection, which an idle process may never reach:
 * a node that served a burst, or started, holds tens of MB it no longer uses. After a window of `quietMs` with the
 * event loop nearly idle and the heap grown since the last collection, this runs one full collection (the inspector's
 * collectGarbage, which also shrinks the young generation); at most one per `minGapMs`, and none while the `activity`
 * count grew within `afterActivityMs`.
 */
export class IdleCollector {
  private readonly opts: Required<Omit<IdleCollectorOptions, 'onCollected' | 'onFailed' | 'activity'>> &
    Pick<IdleCollectorOptions, 'onCollected' | 'onFailed' | 'activity'>;
  private timer: NodeJS.Timeout | null = null;
  /** Heap committed after the last collection; 0 at first, since the start itself grew the heap. */
  private baseline = 0;
  private lastAt = -Infinity;
  /** The activity count as last read (null before the first reading, which only sets the baseline). */
  private activityCount: number | null = null;
  /** When the activity count was last seen to grow. */
  private activeAt = -Infinity;
  private running = false;
  private failed = false;

  constructor(opts: IdleCollectorOptions) {
    this.opts = {
      minGapMs: DEFAULT_MIN_GAP_MS,
      busyBelow: DEFAULT_BUSY_BELOW,
      minGrowthBytes: DEFAULT_MIN_GROWTH,
      afterActivityMs: DEFAULT_AFTER_ACTIVITY_MS,
      utilization: loopUtilization(),
      heapBytes: () => getHeapStatistics().total_heap_size,
      collect: inspectorCollect,
      now: Date.now,
      ...opts,
    };
  }

  /** Starts watching (a no-op when quietMs is 0 or it already runs). The timer never keeps the process alive. */
  start(): void {
    if (this.opts.quietMs <= 0 || this.timer || this.failed) return;
    this.opts.utilization();
    if (this.opts.activity) void this.activityGrew();
    this.timer = setInterval(() => void this.tick(), this.opts.quietMs);
    this.timer.unref();
  }

  /** One window's check; the timer calls it, tests call it directly. Resolves once a collection it started is done. */
  async tick(): Promise<boolean> {
    const busy = this.opts.utilization();
    const now = this.opts.now();
    // Read every window, busy or not, so that growth is seen when it happens.
    if (this.opts.activity && (await this.activityGrew())) this.activeAt = now;
    if (this.running || this.failed || busy >= this.opts.busyBelow) return false;
    if (now - this.activeAt < this.opts.afterActivityMs) return false;
    const heapBefore = this.opts.heapBytes();
    if (now - this.lastAt < this.opts.minGapMs || heapBefore - this.baseline < this.opts.minGrowthBytes) return false;
    this.running = true;
    try {
      await this.opts.collect();
    } catch (err) {
      // Whatever failed once would fail every window: stop, and say so once.
      this.failed = true;
      this.stop();
      this.opts.onFailed?.(err);
      return false;
    } finally {
      this.running = false;
    }
    const heapAfter = this.opts.heapBytes();
    this.baseline = heapAfter;
    this.lastAt = this.opts.now();
    this.opts.onCollected?.({ ms: this.lastAt - now, heapBefore, heapAfter });
    return true;
  }

  /** Whether the activity count grew since the last reading; a count that cannot be read counts as grown. */
  private async activityGrew(): Promise<boolean> {
    let count: number;
    try {
      count = await this.opts.activity!();
    } catch {
      return true;
    }
    const grew = this.activityCount !== null && count !== this.activityCount;
    this.activityCount = count;
    return grew;
  }

  /** Stops watching; a collection under way still finishes. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Event-loop utilization since the previous call (perf_hooks). */
function loopUtilization(): () => number {
  let last: EventLoopUtilization = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const delta = performance.eventLoopUtilization(now, last);
    last = now;
    return delta.utilization;
  };
}

/**
 * The inspector's full collection (as a heap snapshot takes it): it also shrinks the young generation. The module is
 * loaded here, not at start: a Node built without the inspector then fails this collection, not the node's start.
 */
async function inspectorCollect(): Promise<void> {
  const { Session } = await import('node:inspector');
  const session = new Session();
  session.connect();
  return new Promise<void>((resolve, reject) => {
    session.post('HeapProfiler.collectGarbage', (err) => {
      // Disconnecting from inside the callback hangs the process (Node 20): leave the callback first.
      setImmediate(() => {
        session.disconnect();
        if (err) reject(err);
        else resolve();
      });
    });
  });
}
