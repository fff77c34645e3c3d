/** How reconnect delays grow: exponential from `initialDelayMs` up to `maxDelayMs`, with random jitter. */
export interface BackoffOptions {
  /** Delay before the first reconnect attempt (default 500 ms). */
  initialDelayMs?: number;
  /** Upper bound of any delay (default 30 s). */
  maxDelayMs?: number;
  /** Growth per consecutive failure (default 2). */
  factor?: number;
  /**
   * Fraction of the delay that is random (default 0.5): the delay is drawn from [d·(1-jitter), d]. Spreads
   * thousands of gateways that lost the same relay node so they do not all come back in the same instant.
   */
  jitter?: number;
}

/** Resolved backoff settings. */
export type Backoff = Required<BackoffOptions>;

/** Fills in the defaults and checks the ranges. */
export function resolveBackoff(options: BackoffOptions = {}): Backoff {
  const b: Backoff = { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2, jitter: 0.5, ...options };
  if (!(b.initialDelayMs >= 0) || !(b.maxDelayMs >= b.initialDelayMs)) {
    throw new RangeError('reconnect: need 0 <= initialDelayMs <= maxDelayMs');
  }
  if (!(b.factor >= 1)) throw new RangeError('reconnect: factor must be >= 1');
  if (!(b.jitter >= 0 && b.jitter <= 1)) throw new RangeError('reconnect: jitter must be within [0, 1]');
  return b;
}

/** The delay before reconnect attempt `attempt` (0 = first), given a random number in [0, 1). */
export function backoffDelay(b: Backoff, attempt: number, random: number): number {
  const ceiling = Math.min(b.maxDelayMs, b.initialDelayMs * b.factor ** Math.max(0, attempt));
  return Math.round(ceiling * (1 - b.jitter * random));
}
