import type { PendingBindingStore } from '../pending-binding-store.js';

/** Options for {@link MemoryPendingBindingStore}. */
export interface MemoryPendingBindingStoreOptions {
  /** Clock in epoch ms; expiry is judged by it. */
  now?: () => number;
  /** How often (by the clock) expired tokens are swept out, so unscanned QR codes do not pile up. */
  sweepIntervalMs?: number;
}

/** Pending QR tokens in process memory, each expiring by the injected clock. */
export class MemoryPendingBindingStore implements PendingBindingStore {
  private readonly tokens = new Map<string, { gatewayId: string; expiresAt: number }>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private lastSweep: number;

  constructor(options: MemoryPendingBindingStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.lastSweep = this.now();
  }

  /** Issues a token for a gateway until ttlMs has passed; a repeated token is re-issued. */
  async put(token: string, gatewayId: string, ttlMs: number): Promise<void> {
    const now = this.now();
    this.sweep(now);
    this.tokens.set(token, { gatewayId, expiresAt: now + ttlMs });
  }

  /** The gateway a live token was issued to, or null. */
  async lookup(token: string): Promise<string | null> {
    const entry = this.tokens.get(token);
    if (entry === undefined) return null;
    if (entry.expiresAt <= this.now()) {
      this.tokens.delete(token);
      return null;
    }
    return entry.gatewayId;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  private sweep(now: number): void {
    if (now - this.lastSweep < this.sweepIntervalMs) return;
    this.lastSweep = now;
    for (const [token, entry] of this.tokens) {
      if (entry.expiresAt <= now) this.tokens.delete(token);
    }
  }
}
