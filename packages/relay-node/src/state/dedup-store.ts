/** Remembers keys (WeCom msgids) so that each is handed on once, cluster-wide. */
export interface DedupStore {
  /** True the first time a key is claimed within ttlMs; false for every later claim. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Records `value` under `key` unless a value is recorded there already (and not expired); resolves to the value
   * that stands, so every caller, on any node, acts on the first decision. Keep values short: one is kept per message.
   */
  decide(key: string, value: string, ttlMs: number): Promise<string>;
  /** The value {@link decide} recorded under the key, or null when none is (or it expired). */
  recall(key: string): Promise<string | null>;
  close(): Promise<void>;
}
