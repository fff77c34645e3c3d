/** Who sent a message WeCom accepted, so a later msg_send_fail can be reported to that gateway. */
export interface SentReply {
  gatewayId: string;
  /** The gateway's reply request id. */
  requestId: string;
  externalUserId: string;
}

/** WeCom's send window for one user as one kf account sees them: 48 h after their last message, at most 5 messages. */
export interface SendWindow {
  /** Epoch ms of the user's last message seen, or null when none was seen. */
  lastCustomerAt: number | null;
  /** Messages sent to the user since then. */
  sentSince: number;
}

/** The window's rule: how many messages may follow one customer message, and for how long. */
export interface WindowRule {
  maxSends: number;
  windowMs: number;
}

/** Outcome of asking for a send slot: granted (counted), or refused with the window as it stood. */
export interface SendReservation {
  granted: boolean;
  /** The window before the reservation. */
  window: SendWindow;
}

/**
 * Tracks outbound messages: the send window per (kf account, user), as WeCom keeps one per account (a user who writes
 * to account B opens nothing for account A), and who sent what. The first configured account's windows stay where a
 * single-account relay kept them, so a deployed relay's windows keep counting after an upgrade.
 */
export interface OutboundLedger {
  /**
   * The user wrote to account `openKfid` at atMs: their window starts again. Older notes are ignored, and so is a note of the same time
   * unless it names a message (`msgid`) not yet seen at that time: WeCom's times are whole seconds, so two messages
   * can share one, while a page pulled twice repeats the same msgids.
   */
  customerSpoke(openKfid: string, externalUserId: string, atMs: number, msgid?: string): Promise<void>;
  /** WeCom accepted message `msgid` from account `openKfid` for the user; remembers its sender (if a gateway) for ttlMs. */
  recordSend(openKfid: string, externalUserId: string, msgid: string, sender: SentReply | null, ttlMs: number): Promise<void>;
  /**
   * Atomically takes one send slot in the user's window with account `openKfid`, cluster-wide: granted (and counted) only while fewer than
   * `rule.maxSends` were sent since the customer last wrote and, when that time is known, at most `rule.windowMs`
   * ago. A user the relay never saw write may still receive up to maxSends (WeCom decides).
   */
  reserveSend(openKfid: string, externalUserId: string, atMs: number, rule: WindowRule): Promise<SendReservation>;
  /**
   * Gives back a slot taken by reserveSend whose message was not sent, unless the customer wrote since
   * (`lastCustomerAt` as the reservation saw it): the count started again then.
   */
  releaseSend(openKfid: string, externalUserId: string, lastCustomerAt: number | null): Promise<void>;
  /** WeCom said the window is closed: no slot is granted until the customer writes again. */
  closeWindow(openKfid: string, externalUserId: string, rule: WindowRule): Promise<void>;
  /** Remembers who sent `msgid` for ttlMs (the send itself was counted by reserveSend). */
  rememberSender(msgid: string, sender: SentReply, ttlMs: number): Promise<void>;
  /** The user's current window with account `openKfid`. */
  window(openKfid: string, externalUserId: string): Promise<SendWindow>;
  /** Who sent `msgid`, while remembered. */
  senderOf(msgid: string): Promise<SentReply | null>;
  close(): Promise<void>;
}

/** Ledger construction option: the account whose windows sit where a single-account relay kept them. */
export interface LedgerAccountOptions {
  /** The first configured kf account; without it every account's windows sit apart from the single-account layout. */
  firstOpenKfid?: string;
}
