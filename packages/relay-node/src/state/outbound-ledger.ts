/** Who sent a message WeCom accepted, so a later msg_send_fail can be reported to that gateway. */
export interface SentReply {
  gatewayId: string;
  /** The gateway's reply request id. */
  requestId: string;
  externalUserId: string;
}

/** WeCom's send window for one user: 48 h after their last message, at most 5 messages. */
export interface SendWindow {
  /** Epoch ms of the user's last message seen, or null when none was seen. */
  lastCustomerAt: number | null;
  /** Messages sent to the user since then. */
  sentSince: number;
}

/** Tracks outbound messages per user: the send window and who sent what. */
export interface OutboundLedger {
  /** The user wrote at atMs (older notes are ignored): their window starts again. */
  customerSpoke(externalUserId: string, atMs: number): Promise<void>;
  /** WeCom accepted message `msgid` for the user; remembers its sender (if a gateway) for ttlMs. */
  recordSend(externalUserId: string, msgid: string, sender: SentReply | null, ttlMs: number): Promise<void>;
  /** The user's current window. */
  window(externalUserId: string): Promise<SendWindow>;
  /** Who sent `msgid`, while remembered. */
  senderOf(msgid: string): Promise<SentReply | null>;
  close(): Promise<void>;
}
