import type { AccessTokenStore } from '../access-token-store.js';

/** Options for {@link MemoryAccessTokenStore}. */
export interface MemoryAccessTokenStoreOptions {
  /** Clock in epoch ms; the refresh lock expires by it. */
  now?: () => number;
}

/**
 * The access token of a single node, in process memory. The refresh lock still matters within one process
 * (several clients may share the store) and expires by itself so a crashed refresher cannot block others.
 */
export class MemoryAccessTokenStore implements AccessTokenStore {
  private readonly now: () => number;
  private entry: { token: string; expiresAt: number } | null = null;
  private lockedUntil = 0;

  constructor(options: MemoryAccessTokenStoreOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** The cached token and the time it should be replaced by, or null. */
  async read(): Promise<{ token: string; expiresAt: number } | null> {
    return this.entry === null ? null : { ...this.entry };
  }

  /** Replaces the cached token. */
  async write(token: string, expiresAt: number): Promise<void> {
    this.entry = { token, expiresAt };
  }

  /** Drops the cached token only while it is still `token`. */
  async invalidate(token: string): Promise<void> {
    if (this.entry?.token === token) this.entry = null;
  }

  /** Takes the refresh lock for ttlMs unless someone holds it. */
  async tryLockRefresh(ttlMs: number): Promise<boolean> {
    const now = this.now();
    if (this.lockedUntil > now) return false;
    this.lockedUntil = now + ttlMs;
    return true;
  }

  /** Releases the refresh lock. */
  async unlockRefresh(): Promise<void> {
    this.lockedUntil = 0;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}
}
