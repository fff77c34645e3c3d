import type { Logger } from 'pino';

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

interface Entry {
  loggedAt: number;
  suppressed: number;
}

/**
 * Counts every refusal and logs it at most once per source and reason per interval, as one line without a
 * stack, so a flood of hostile sockets cannot flood the log as well.
 */
export class RefusalLog {
  private readonly entries = new Map<string, Entry>();
  private readonly intervalMs: number;
  private readonly maxSources: number;
  private readonly now: () => number;

  constructor(private readonly o: RefusalLogOptions) {
    this.intervalMs = o.intervalMs ?? 60_000;
    this.maxSources = o.maxSources ?? 10_000;
    this.now = o.now ?? Date.now;
  }

  /** Records one refusal of a socket from `source`. Returns whether a line was logged. */
  record(source: string, reason: RefusalReason, detail: Record<string, number | string> = {}): boolean {
    this.o.count(reason);
    const key = `${reason} ${source}`;
    const now = this.now();
    const entry = this.entries.get(key);
    if (entry !== undefined && now - entry.loggedAt < this.intervalMs) {
      entry.suppressed += 1;
      return false;
    }
    const suppressed = entry?.suppressed ?? 0;
    // Re-inserted so the map's order is oldest-logged first, which is what eviction drops.
    this.entries.delete(key);
    this.entries.set(key, { loggedAt: now, suppressed: 0 });
    this.evict(now);
    this.o.logger.warn({ source, reason, ...detail, ...(suppressed > 0 ? { suppressedSinceLastLine: suppressed } : {}) }, 'gateway socket refused');
    return true;
  }

  /** Sources currently remembered (for tests of the bound). */
  get size(): number {
    return this.entries.size;
  }

  private evict(now: number): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxSources && now - entry.loggedAt < this.intervalMs) break;
      this.entries.delete(key);
    }
  }
}
