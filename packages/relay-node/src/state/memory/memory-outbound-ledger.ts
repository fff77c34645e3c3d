import type { OutboundLedger, SendReservation, SendWindow, SentReply, WindowRule } from '../outbound-ledger.js';

/** Windows are forgotten after this long without activity; WeCom's window lasts 48 h. */
const WINDOW_TTL_MS = 3 * 24 * 3600 * 1000;

/** msgids remembered per customer second (to tell a new message from a repeated one). */
const MAX_IDS = 50;

/** In-memory outbound ledger with lazy expiry. */
export class MemoryOutboundLedger implements OutboundLedger {
  private readonly windows = new Map<string, SendWindow & { touchedAt: number; ids?: string[] }>();
  private readonly senders = new Map<string, { sender: SentReply; expiresAt: number }>();
  private readonly now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
  }

  async customerSpoke(openKfid: string, externalUserId: string, atMs: number, msgid?: string): Promise<void> {
    const w = this.current(windowKey(openKfid, externalUserId));
    const last = w.lastCustomerAt;
    if (last === null || atMs > last) {
      this.windows.set(windowKey(openKfid, externalUserId), { lastCustomerAt: atMs, sentSince: 0, touchedAt: this.now(), ids: msgid ? [msgid] : [] });
      return;
    }
    const ids = w.ids ?? [];
    if (atMs === last && msgid && !ids.includes(msgid)) {
      this.windows.set(windowKey(openKfid, externalUserId), { ...w, sentSince: 0, touchedAt: this.now(), ids: [...ids, msgid].slice(-MAX_IDS) });
    }
  }

  async recordSend(openKfid: string, externalUserId: string, msgid: string, sender: SentReply | null, ttlMs: number): Promise<void> {
    const w = this.current(windowKey(openKfid, externalUserId));
    this.windows.set(windowKey(openKfid, externalUserId), { ...w, sentSince: w.sentSince + 1, touchedAt: this.now() });
    if (sender) this.senders.set(msgid, { sender: { ...sender }, expiresAt: this.now() + ttlMs });
  }

  async reserveSend(openKfid: string, externalUserId: string, atMs: number, rule: WindowRule): Promise<SendReservation> {
    const w = this.current(windowKey(openKfid, externalUserId));
    const window = { lastCustomerAt: w.lastCustomerAt, sentSince: w.sentSince };
    const open = w.sentSince < rule.maxSends && (w.lastCustomerAt === null || atMs - w.lastCustomerAt <= rule.windowMs);
    if (open) this.windows.set(windowKey(openKfid, externalUserId), { ...w, sentSince: w.sentSince + 1, touchedAt: this.now() });
    return { granted: open, window };
  }

  async releaseSend(openKfid: string, externalUserId: string, lastCustomerAt: number | null): Promise<void> {
    const w = this.windows.get(windowKey(openKfid, externalUserId));
    if (!w || w.lastCustomerAt !== lastCustomerAt || w.sentSince <= 0) return;
    w.sentSince -= 1;
  }

  async closeWindow(openKfid: string, externalUserId: string, rule: WindowRule): Promise<void> {
    const w = this.current(windowKey(openKfid, externalUserId));
    this.windows.set(windowKey(openKfid, externalUserId), { ...w, sentSince: Math.max(w.sentSince, rule.maxSends), touchedAt: this.now() });
  }

  async rememberSender(msgid: string, sender: SentReply, ttlMs: number): Promise<void> {
    this.senders.set(msgid, { sender: { ...sender }, expiresAt: this.now() + ttlMs });
  }

  async window(openKfid: string, externalUserId: string): Promise<SendWindow> {
    const { lastCustomerAt, sentSince } = this.current(windowKey(openKfid, externalUserId));
    return { lastCustomerAt, sentSince };
  }

  async senderOf(msgid: string): Promise<SentReply | null> {
    const entry = this.senders.get(msgid);
    if (!entry) return null;
    if (entry.expiresAt <= this.now()) {
      this.senders.delete(msgid);
      return null;
    }
    return { ...entry.sender };
  }

  async close(): Promise<void> {}

  private current(user: string): SendWindow & { touchedAt: number; ids?: string[] } {
    const w = this.windows.get(user);
    if (!w || this.now() - w.touchedAt > WINDOW_TTL_MS) return { lastCustomerAt: null, sentSince: 0, touchedAt: this.now() };
    return w;
  }
}

/** One window per (kf account, user), as WeCom keeps them. */
function windowKey(openKfid: string, externalUserId: string): string {
  return `${openKfid}\n${externalUserId}`;
}
