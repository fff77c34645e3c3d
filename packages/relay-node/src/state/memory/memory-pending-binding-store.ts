import type { PendingBindingStore, TokenIssueLimits, TokenIssueResult } from '../pending-binding-store.js';

/** Options for {@link MemoryPendingBindingStore}. */
export interface MemoryPendingBindingStoreOptions {
  /** Clock in epoch ms; expiry is judged by it. */
  now?: () => number;
  /** How often (by the clock) expired entries are swept out, so unscanned QR codes do not pile up. */
  sweepIntervalMs?: number;
}

interface Token {
  gatewayId: string;
  createdAt: number;
  expiresAt: number;
}

interface Window {
  count: number;
  expiresAt: number;
}

/** Pending QR tokens in process memory, each expiring by the injected clock. */
export class MemoryPendingBindingStore implements PendingBindingStore {
  private readonly tokens = new Map<string, Token>();
  /** Per gateway: its live tokens, oldest first (Map keeps insertion order). */
  private readonly byGateway = new Map<string, Map<string, Token>>();
  private readonly rates = new Map<string, Window>();
  private readonly used = new Map<string, { gatewayId: string; expiresAt: number }>();
  private readonly misses = new Map<string, Window>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private lastSweep: number;

  constructor(options: MemoryPendingBindingStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
    this.lastSweep = this.now();
  }

  /** Issues a token within the gateway's limits; never overwrites a live token. */
  async issue(token: string, gatewayId: string, ttlMs: number, limits: TokenIssueLimits): Promise<TokenIssueResult> {
    const now = this.now();
    this.sweep(now);
    const mine = this.liveOf(gatewayId, now);
    const rate = live(this.rates.get(gatewayId), now);
    if (rate && rate.count >= limits.ratePerWindow) return { outcome: 'rate_limited' };
    const newest = [...mine].at(-1);
    if (newest && newest[0].length === token.length && newest[1].createdAt > now - limits.reuseWithinMs) {
      this.count(gatewayId, rate, now, limits.rateWindowMs);
      return { outcome: 'reused', token: newest[0] };
    }
    if (mine.size >= limits.maxLive) return { outcome: 'too_many' };
    const existing = this.tokens.get(token);
    if (existing && existing.expiresAt > now) return { outcome: 'collision' };
    const entry = { gatewayId, createdAt: now, expiresAt: now + ttlMs };
    this.tokens.set(token, entry);
    this.byGateway.set(gatewayId, mine.set(token, entry));
    this.count(gatewayId, rate, now, limits.rateWindowMs);
    return { outcome: 'created', token };
  }

  /** Removes a live token and resolves to its gateway, once; the same event asking again gets the same answer. */
  async consume(token: string, eventId: string, rememberMs: number): Promise<string | null> {
    const now = this.now();
    const earlier = await this.consumedBy(eventId);
    if (earlier !== null) return earlier;
    const entry = this.tokens.get(token);
    if (entry === undefined || entry.expiresAt <= now) return null;
    this.tokens.delete(token);
    this.byGateway.get(entry.gatewayId)?.delete(token);
    this.used.set(eventId, { gatewayId: entry.gatewayId, expiresAt: now + rememberMs });
    return entry.gatewayId;
  }

  /** The gateway this event consumed a token for, or null. */
  async consumedBy(eventId: string): Promise<string | null> {
    const used = this.used.get(eventId);
    return used && used.expiresAt > this.now() ? used.gatewayId : null;
  }

  /** Counts a miss in the customer's window (which starts at its first miss). */
  async noteGuessMiss(externalUserId: string, windowMs: number): Promise<number> {
    const now = this.now();
    this.sweep(now);
    const window = live(this.misses.get(externalUserId), now) ?? { count: 0, expiresAt: now + windowMs };
    window.count += 1;
    this.misses.set(externalUserId, window);
    return window.count;
  }

  /** Misses in the customer's current window. */
  async guessMisses(externalUserId: string): Promise<number> {
    return live(this.misses.get(externalUserId), this.now())?.count ?? 0;
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  private liveOf(gatewayId: string, now: number): Map<string, Token> {
    const mine = this.byGateway.get(gatewayId) ?? new Map<string, Token>();
    for (const [token, entry] of mine) if (entry.expiresAt <= now) mine.delete(token);
    return mine;
  }

  private count(gatewayId: string, rate: Window | undefined, now: number, windowMs: number): void {
    const window = rate ?? { count: 0, expiresAt: now + windowMs };
    window.count += 1;
    this.rates.set(gatewayId, window);
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < this.sweepIntervalMs) return;
    this.lastSweep = now;
    for (const [token, entry] of this.tokens) {
      if (entry.expiresAt <= now) {
        this.tokens.delete(token);
        this.byGateway.get(entry.gatewayId)?.delete(token);
      }
    }
    for (const [gatewayId, mine] of this.byGateway) if (mine.size === 0) this.byGateway.delete(gatewayId);
    for (const map of [this.rates, this.misses, this.used]) {
      for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key);
    }
  }
}

/** The entry while it has not expired. */
function live<T extends { expiresAt: number }>(entry: T | undefined, now: number): T | undefined {
  return entry && entry.expiresAt > now ? entry : undefined;
}
