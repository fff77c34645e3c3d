/** Remembers keys (WeCom msgids) so that each is handed on once, cluster-wide. */
export interface DedupStore {
  /** True the first time a key is claimed within ttlMs; false for every later claim. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}
