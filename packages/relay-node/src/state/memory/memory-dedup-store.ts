import type { DecisionPlacement, DecisionRequest, DedupStore } from '../dedup-store.js';

/** Options for {@link MemoryDedupStore}. */
export interface MemoryDedupStoreOptions {
  /** Clock in epoch ms; expiry is judged by it. */
  now?: () => number;
  /** How often (by the clock) expired keys are swept out, bounding memory to roughly one interval of traffic plus ttl. */
  sweepIntervalMs?: number;
}

/** Claimed keys in process memory; correct only when one process handles every callback. */
export class MemoryDedupStore implements DedupStore {
  private readonly expiries = new Map<string, number>();
  private readonly decisions = new Map<string, { value: string; expiresAt: number }>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private lastSweep: number;

  constructor(options: MemoryDedupStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.lastSweep = this.now();
  }

  /** True the first time a key is claimed within ttlMs; false for every later claim until it expires. */
  async claim(key: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    this.sweep(now);
    const expiresAt = this.expiries.get(key);
    if (expiresAt !== undefined && expiresAt > now) return false;
    this.expiries.set(key, now + ttlMs);
    return true;
  }

  /** The first live value recorded under the key; records `value` when there is none. Placement changes nothing here. */
  async decide(key: string, value: string, ttlMs: number, _placement?: DecisionPlacement): Promise<string> {
    const now = this.now();
    this.sweep(now);
    const existing = this.decisions.get(key);
    if (existing !== undefined && existing.expiresAt > now) return existing.value;
    this.decisions.set(key, { value, expiresAt: now + ttlMs });
    return value;
  }

  /** Each decision in turn: nothing to save on round trips here. */
  async decideMany(entries: readonly DecisionRequest[], ttlMs: number): Promise<string[]> {
    const values: string[] = [];
    for (const { key, value } of entries) values.push(await this.decide(key, value, ttlMs));
    return values;
  }

  /** The live value recorded under the key, or null. */
  async recall(key: string, _placement?: DecisionPlacement): Promise<string | null> {
    const existing = this.decisions.get(key);
    return existing !== undefined && existing.expiresAt > this.now() ? existing.value : null;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  private sweep(now: number): void {
    if (now - this.lastSweep < this.sweepIntervalMs) return;
    this.lastSweep = now;
    for (const [key, expiresAt] of this.expiries) {
      if (expiresAt <= now) this.expiries.delete(key);
    }
    for (const [key, decision] of this.decisions) {
      if (decision.expiresAt <= now) this.decisions.delete(key);
    }
  }
}
