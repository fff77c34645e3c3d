/**
 * When the thing a decision is about happened (e.g. a WeCom message's send_time): the same for every call with the
 * same key: pass it on every call for that key. A store may keep the decisions of one minute together, compactly; a
 * decision is then remembered for at least its ttl (up to one minute longer). A decision recorded without a
 * placement (as a store kept them all before it packed them) still stands for calls with one.
 */
export interface DecisionPlacement {
  /** Unix seconds. */
  at: number;
}

/** One decision of {@link DedupStore.decideMany}. */
export interface DecisionRequest {
  key: string;
  value: string;
  placement?: DecisionPlacement;
}

/** Remembers keys (WeCom msgids) so that each is handed on once, cluster-wide. */
export interface DedupStore {
  /** True the first time a key is claimed within ttlMs; false for every later claim. */
  claim(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Records `value` under `key` unless a value is recorded there already (and not expired); resolves to the value
   * that stands, so every caller, on any node, acts on the first decision. Keep values short: one is kept per message.
   */
  decide(key: string, value: string, ttlMs: number, placement?: DecisionPlacement): Promise<string>;
  /**
   * {@link decide} for several keys at once (a pulled page), with as few round trips as the store allows; resolves to
   * the value that stands for each, in order. Each key is decided atomically; the batch as a whole is not.
   */
  decideMany(entries: readonly DecisionRequest[], ttlMs: number): Promise<string[]>;
  /** The value {@link decide} recorded under the key, or null when none is (or it expired); pass decide's placement. */
  recall(key: string, placement?: DecisionPlacement): Promise<string | null>;
  close(): Promise<void>;
}
