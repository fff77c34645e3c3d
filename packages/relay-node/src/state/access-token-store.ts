/** Where the WeCom access token is cached, shared by every node in a cluster, with one refresher at a time. */
export interface AccessTokenStore {
  /** The cached token and its expiry (epoch ms), or null. */
  read(): Promise<{ token: string; expiresAt: number } | null>;
  write(token: string, expiresAt: number): Promise<void>;
  /** Drops the cached token only if it is still `token`, so a fresher one written by another node survives. */
  invalidate(token: string): Promise<void>;
  /** Becomes the single refresher for ttlMs; false while another holder refreshes. */
  tryLockRefresh(ttlMs: number): Promise<boolean>;
  unlockRefresh(): Promise<void>;
  close(): Promise<void>;
}
