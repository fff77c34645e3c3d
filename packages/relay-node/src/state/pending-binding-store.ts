/** How a gateway's token issuing is held in check (all per gateway). */
export interface TokenIssueLimits {
  /** A live, unused token of the same length issued at most this long ago is handed out again instead of a new one. */
  reuseWithinMs: number;
  /** Live tokens a gateway may hold at once; a new one beyond this is refused (the oldest are never evicted). */
  maxLive: number;
  /** Tokens (new or reused) a gateway may be given per rate window. */
  ratePerWindow: number;
  rateWindowMs: number;
}

/** What {@link PendingBindingStore.issue} did. `collision`: the proposed token is live (any gateway's); propose another. */
export type TokenIssueResult =
  | { outcome: 'created' | 'reused'; token: string }
  | { outcome: 'collision' | 'rate_limited' | 'too_many' };

/**
 * QR binding tokens waiting to be scanned: token → gateway_id, each with its own expiry, each usable once,
 * plus the per-customer count of typed guesses that named no live token.
 */
export interface PendingBindingStore {
  /**
   * Issues `token` for a gateway until ttlMs has passed, within `limits`, in one atomic step: the rate window is
   * counted, a recent unused token of the gateway is reused, the live-token cap is checked, and the new token is
   * written only if no live token has that value (never overwriting one).
   */
  issue(token: string, gatewayId: string, ttlMs: number, limits: TokenIssueLimits): Promise<TokenIssueResult>;
  /**
   * Uses a token up: resolves to its gateway and removes it, atomically, so a token binds one event only. The event
   * (WeCom msgid) that used it is remembered for rememberMs: consuming again for the same event resolves to the
   * same gateway (a re-pulled page), for any other event to null.
   */
  consume(token: string, eventId: string, rememberMs: number): Promise<string | null>;
  /** The gateway a token was consumed for by this event, or null. */
  consumedBy(eventId: string): Promise<string | null>;
  /** Counts a typed token that named no live token; resolves to the customer's misses in the current window. */
  noteGuessMiss(externalUserId: string, windowMs: number): Promise<number>;
  /** The customer's misses in the current window (0 once the window has passed). */
  guessMisses(externalUserId: string): Promise<number>;
  close(): Promise<void>;
}
