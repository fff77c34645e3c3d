import type { Logger } from 'pino';
import { LogThrottle } from '../observability/log-throttle.js';

/** Why a socket was refused or cut off before it authenticated (the `reason` label of the metric). */
export type RefusalReason =
  | 'per_source_limit'
  | 'node_socket_limit'
  | 'node_byte_limit'
  | 'hello_too_large'
  | 'hello_timeout'
  | 'not_hello'
  | 'auth_failed'
  | 'not_accepting';

/** Options for {@link RefusalLog}. */
export interface RefusalLogOptions {
  logger: Logger;
  /** Counts every refusal (the metric). */
  count: (reason: RefusalReason) => void;
  /** A source is logged at most once per reason within this window; later refusals are summed into the next line. */
  intervalMs?: number;
  /** Sources remembered at once; beyond this the oldest are forgotten (a flood of sources cannot grow the map). */
  maxSources?: number;
  now?: () => number;
}

/**
 * Counts every refusal and logs it at most once per source and reason per interval, as one line without a
 * stack, so a flood of hostile sockets cannot flood the log as well. The per-key throttling is the node's one
 * {@link LogThrottle}, shared with the webhook's refusals.
 */
export class RefusalLog {
  private readonly throttle: LogThrottle;

  constructor(private readonly o: RefusalLogOptions) {
    this.throttle = new LogThrottle({
      intervalMs: o.intervalMs ?? 60_000,
      // Less one: the throttle's shared overflow bucket counts toward the bound too.
      maxKeys: Math.max(1, (o.maxSources ?? 10_000) - 1),
      now: o.now ?? Date.now,
    });
  }

  /** Records one refusal of a socket from `source`. Returns whether a line was logged. */
  record(source: string, reason: RefusalReason, detail: Record<string, number | string> = {}): boolean {
    this.o.count(reason);
    const { log, suppressed } = this.throttle.check(`${reason} ${source}`);
    if (!log) return false;
    this.o.logger.warn({ source, reason, ...detail, ...(suppressed > 0 ? { suppressedSinceLastLine: suppressed } : {}) }, 'gateway socket refused');
    return true;
  }

  /** Sources currently remembered (for tests of the bound). */
  get size(): number {
    return this.throttle.size;
  }
}
