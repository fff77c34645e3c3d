import type { ReplyClaim, ReplyKey, ReplyRecord, ReplyRecordStore } from '../reply-record-store.js';

type Entry = { owner: string; expiresAt: number } | { record: ReplyRecord; expiresAt: number };

/** In-memory reply records (one process; tests), with lazy expiry and a periodic sweep. */
export class MemoryReplyRecordStore implements ReplyRecordStore {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private lastSweep: number;

  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
    this.lastSweep = this.now();
  }

  async claim(key: ReplyKey, owner: string, claimTtlMs: number): Promise<ReplyClaim> {
    this.sweep();
    const id = keyOf(key);
    const entry = this.live(id);
    if (entry && 'record' in entry) return { state: 'done', record: structuredClone(entry.record) };
    if (entry) return { state: 'in_flight' };
    this.entries.set(id, { owner, expiresAt: this.now() + claimTtlMs });
    return { state: 'claimed' };
  }

  async extend(key: ReplyKey, owner: string, claimTtlMs: number): Promise<boolean> {
    const entry = this.live(keyOf(key));
    if (!entry || !('owner' in entry) || entry.owner !== owner) return false;
    entry.expiresAt = this.now() + claimTtlMs;
    return true;
  }

  async complete(key: ReplyKey, record: ReplyRecord, ttlMs: number): Promise<void> {
    this.entries.set(keyOf(key), { record: structuredClone(record), expiresAt: this.now() + ttlMs });
  }

  async release(key: ReplyKey, owner: string): Promise<void> {
    const id = keyOf(key);
    const entry = this.live(id);
    if (entry && 'owner' in entry && entry.owner === owner) this.entries.delete(id);
  }

  async close(): Promise<void> {}

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry && entry.expiresAt <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.now();
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    for (const [id, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(id);
  }
}

function keyOf(key: ReplyKey): string {
  return JSON.stringify([key.gatewayId, key.requestId, key.fingerprint]);
}
