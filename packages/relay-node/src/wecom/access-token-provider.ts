import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { AccessTokenStore } from '../state/access-token-store.js';
import type { WecomObserver } from './wecom-client-options.js';

/** How a fresh token is obtained (kf gettoken); expiresIn in seconds. */
export type FetchAccessToken = () => Promise<{ accessToken: string; expiresIn: number }>;

/** Settings of {@link AccessTokenProvider}. */
export interface AccessTokenProviderOptions {
  store: AccessTokenStore;
  fetchToken: FetchAccessToken;
  logger: Logger;
  now: () => number;
  observer?: WecomObserver | undefined;
  /** Replace the token this long before expiry, capped at half its lifetime so a short-lived token is not refetched on every call. */
  refreshMarginMs: number;
  /** How long to wait for another node's refresh before fetching anyway. */
  lockWaitMs: number;
  /** The cross-node lock expires after this, so a crashed holder blocks nobody for long. */
  lockTtlMs: number;
  /** How often a waiting node looks at the store. */
  lockPollMs?: number;
}

/** What the store holds: the token and the time it should be replaced by (expiry minus the margin). */
interface CachedToken {
  token: string;
  expiresAt: number;
}

/**
 * The access token: cached in this process and in the shared store, refreshed ahead of expiry, one refresh at a
 * time in this process (single flight) and across nodes (the store's refresh lock). A node that does not get the
 * lock polls the store briefly for the other's token, then fetches anyway rather than hang.
 */
export class AccessTokenProvider {
  #local: CachedToken | null = null;
  #rejected: string | null = null;
  #inflight: Promise<string> | null = null;

  constructor(private readonly o: AccessTokenProviderOptions) {}

  /** A token believed valid. Throws whatever fetching a new one throws. */
  async get(): Promise<string> {
    if (this.#usable(this.#local)) return this.#local.token;
    const stored = await this.#read();
    if (this.#usable(stored)) {
      this.#local = stored;
      return stored.token;
    }
    this.#inflight ??= this.#refresh().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  /** WeCom refused this token (40014/42001/...): forget it here and in the store, unless a newer one replaced it. */
  async invalidate(token: string): Promise<void> {
    this.#rejected = token;
    if (this.#local?.token === token) this.#local = null;
    try {
      await this.o.store.invalidate(token);
    } catch (err) {
      this.o.logger.warn({ err }, 'access token store: invalidate failed');
    }
  }

  #usable(entry: CachedToken | null): entry is CachedToken {
    return entry !== null && entry.token !== this.#rejected && entry.expiresAt > this.o.now();
  }

  /** Store failures degrade to "no cache" so WeCom calls keep working while Redis is away. */
  async #read(): Promise<CachedToken | null> {
    try {
      return await this.o.store.read();
    } catch (err) {
      this.o.logger.warn({ err }, 'access token store: read failed');
      return null;
    }
  }

  async #refresh(): Promise<string> {
    let locked = false;
    try {
      locked = await this.o.store.tryLockRefresh(this.o.lockTtlMs);
    } catch (err) {
      this.o.logger.warn({ err }, 'access token store: lock failed; refreshing without it');
      return this.#fetchAndStore();
    }
    try {
      if (locked) {
        // Another node may have written a token between our read and the lock.
        const stored = await this.#read();
        if (this.#usable(stored)) return this.#adopt(stored);
        return await this.#fetchAndStore();
      }
      const fromPeer = await this.#waitForPeer();
      if (fromPeer) return this.#adopt(fromPeer);
      this.o.logger.warn({ waitedMs: this.o.lockWaitMs }, 'access token refresh lock held too long; refreshing anyway');
      return await this.#fetchAndStore();
    } finally {
      if (locked) {
        await this.o.store.unlockRefresh().catch((err: unknown) => {
          this.o.logger.warn({ err }, 'access token store: unlock failed');
        });
      }
    }
  }

  async #waitForPeer(): Promise<CachedToken | null> {
    const deadline = this.o.now() + this.o.lockWaitMs;
    const poll = this.o.lockPollMs ?? 100;
    while (this.o.now() < deadline) {
      await sleep(poll);
      const stored = await this.#read();
      if (this.#usable(stored)) return stored;
    }
    return null;
  }

  #adopt(entry: CachedToken): string {
    this.#local = entry;
    return entry.token;
  }

  async #fetchAndStore(): Promise<string> {
    let fetched: { accessToken: string; expiresIn: number };
    try {
      fetched = await this.o.fetchToken();
      this.o.observer?.tokenRefresh(true);
    } catch (err) {
      this.o.observer?.tokenRefresh(false);
      throw err;
    }
    const lifetimeMs = Math.max(0, fetched.expiresIn * 1000);
    const entry = {
      token: fetched.accessToken,
      expiresAt: this.o.now() + lifetimeMs - Math.min(this.o.refreshMarginMs, lifetimeMs / 2),
    };
    if (entry.token === this.#rejected) this.#rejected = null;
    try {
      await this.o.store.write(entry.token, entry.expiresAt);
    } catch (err) {
      this.o.logger.warn({ err }, 'access token store: write failed; token cached in this process only');
    }
    this.o.logger.info({ expiresInSeconds: fetched.expiresIn }, 'access token refreshed');
    return this.#adopt(entry);
  }
}
