import { createHmac } from 'node:crypto';
import type { FakeClock } from './clock.js';

/** One kf message as sync_msg returns it (origin 3 customer, 4 event, 5 servicer). */
export type KfLogMessage = Record<string, unknown> & { msgid: string; send_time: number; origin: number; msgtype: string };

interface LogEntry {
  seq: number;
  openKfid: string;
  message: KfLogMessage;
  /** Wall-clock ms when a sync_msg answer first carried this message (benchmarks measure latency from here). */
  firstServedAt?: number;
}

/** sync_msg returns the last 3 days only (reference §2.2). */
const RETENTION_MS = 3 * 24 * 3600 * 1000;

/** One page of sync_msg. */
export interface SyncPage {
  msgList: KfLogMessage[];
  nextCursor: string;
  hasMore: boolean;
}

/**
 * The kf message log and its cursors. A cursor is opaque to clients: a position plus a MAC, so a forged or
 * corrupted cursor is refused. Positions start from the wall clock and only grow, so a cursor stays meaningful
 * across reset() and restarts (new messages always come after it).
 */
export class KfMessageLog {
  readonly #entries: LogEntry[] = [];
  #lastSeq = Date.now() * 1000;

  /**
   * macKey: derived from the account's settings, so a restarted fake still accepts the cursors it issued before.
   * firstKfid: the first kf account, whose cursors are MACed as before several accounts; any other account's
   * cursors name their account too, so one account's cursor is refused by another's sync_msg (UNCONFIRMED what
   * WeCom does with a cursor of another account; refusing it makes a relay that mixes cursors up fail loudly).
   */
  constructor(
    private readonly clock: FakeClock,
    private readonly macKey: string,
    private readonly firstKfid?: string,
  ) {}

  /** Appends a message (send_time and msgid must already be set). */
  append(openKfid: string, message: KfLogMessage): void {
    this.#lastSeq++;
    this.#entries.push({ seq: this.#lastSeq, openKfid, message });
  }

  /** Everything logged, oldest first (for inspection). */
  all(): KfLogMessage[] {
    return this.#entries.map((e) => e.message);
  }

  /** One page after `cursor` (null: from the start of the 3-day window); null when the cursor is not one we issued. */
  page(openKfid: string, cursor: string | null, limit: number): SyncPage | null {
    let after: number;
    if (cursor === null) {
      after = 0;
    } else {
      const decoded = this.#decodeCursor(cursor, openKfid);
      if (decoded === null) return null;
      after = decoded;
    }
    const oldest = this.clock.now() - RETENTION_MS;
    // From the cursor on, not over the whole log: a page costs what it carries, however much was served before it
    // (a benchmark's fake holds hundreds of thousands of messages, and scanning them all on every pull took the
    // machine's CPU from the systems it measures).
    const taken: LogEntry[] = [];
    let hasMore = false;
    for (let i = this.#firstAfter(after); i < this.#entries.length; i++) {
      const e = this.#entries[i]!;
      if (e.openKfid !== openKfid || e.message.send_time * 1000 < oldest) continue;
      if (taken.length === limit) {
        hasMore = true;
        break;
      }
      taken.push(e);
    }
    const servedAt = Date.now();
    for (const e of taken) e.firstServedAt ??= servedAt;
    const last = taken[taken.length - 1];
    const position = last ? last.seq : Math.max(after, this.#lastSeq);
    return {
      msgList: taken.map((e) => e.message),
      nextCursor: this.#encodeCursor(position, openKfid),
      hasMore,
    };
  }

  /** The index of the first entry after position `after` (entries are in position order). */
  #firstAfter(after: number): number {
    let lo = 0;
    let hi = this.#entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#entries[mid]!.seq > after) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** msgid → wall-clock ms when a sync_msg answer first carried it, for messages served so far. */
  served(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.#entries) if (e.firstServedAt !== undefined) out[e.message.msgid] = e.firstServedAt;
    return out;
  }

  /** Forgets the messages (positions keep growing). */
  reset(): void {
    this.#entries.length = 0;
  }

  #mac(seq: number, openKfid: string): string {
    const input = openKfid === this.firstKfid || this.firstKfid === undefined ? String(seq) : `${openKfid}\n${seq}`;
    return createHmac('sha256', this.macKey).update(input).digest('base64url').slice(0, 12);
  }

  #encodeCursor(seq: number, openKfid: string): string {
    return `${seq.toString(36)}${this.#mac(seq, openKfid)}`;
  }

  #decodeCursor(cursor: string, openKfid: string): number | null {
    if (cursor.length <= 12 || cursor.length > 64) return null;
    const seq = Number.parseInt(cursor.slice(0, -12), 36);
    if (!Number.isSafeInteger(seq) || seq.toString(36) !== cursor.slice(0, -12)) return null;
    return this.#mac(seq, openKfid) === cursor.slice(-12) ? seq : null;
  }
}
