/** An opaque timer handle; whatever the clock's setTimeout returned. */
export type TimerHandle = unknown;

/** Time and randomness the SDK depends on, injectable so tests can drive reconnects with a fake clock. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /** A number in [0, 1), for backoff jitter. */
  random(): number;
}

interface TimerGlobals {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: the platform's timers, Date.now and Math.random. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const handle = (globalThis as unknown as TimerGlobals).setTimeout(fn, ms);
    // In Node a pending reconnect or request timer must not by itself keep a finished program alive.
    (handle as { unref?: () => void } | null)?.unref?.();
    return handle;
  },
  clearTimeout: (handle) => (globalThis as unknown as TimerGlobals).clearTimeout(handle),
  random: () => Math.random(),
};
