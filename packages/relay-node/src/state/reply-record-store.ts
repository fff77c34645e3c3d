/** Which reply a record is for: the gateway's request id, told apart from a reused id by a fingerprint. */
export interface ReplyKey {
  gatewayId: string;
  requestId: string;
  /** Hash of what the reply sends (customer and content), so a reused id with other content is a new reply. */
  fingerprint: string;
}

/** What a reply's ack said: the WeCom msgids of the parts sent, and why the rest was not sent, if so. */
export interface ReplyRecord {
  msgids: string[];
  partsTotal: number;
  unsent?: { code: string; message: string; offset: number; wecomErrcode?: number };
}

/** Outcome of claiming a reply. */
export type ReplyClaim =
  /** The caller now owns the reply: it sends it, then completes or releases the claim. */
  | { state: 'claimed' }
  /** Someone else (this node or another) is sending it right now. */
  | { state: 'in_flight' }
  /** It was sent before; answer with the same ack. */
  | { state: 'done'; record: ReplyRecord };

/**
 * Remembers replies sent, cluster-wide, so a gateway that resends a reply (its connection dropped before the ack)
 * gets the first ack again instead of a second WeCom message; and makes sure two copies in flight at once send once.
 */
export interface ReplyRecordStore {
  /** Claims the reply for `owner` for claimTtlMs (so a claim whose owner died frees itself), unless known. */
  claim(key: ReplyKey, owner: string, claimTtlMs: number): Promise<ReplyClaim>;
  /** Keeps `owner`'s claim alive another claimTtlMs; false when it no longer holds it. */
  extend(key: ReplyKey, owner: string, claimTtlMs: number): Promise<boolean>;
  /** The reply was sent (at least in part): remember its ack for ttlMs, in place of the claim. */
  complete(key: ReplyKey, record: ReplyRecord, ttlMs: number): Promise<void>;
  /** Nothing was sent: drop `owner`'s claim so a retry may send it. */
  release(key: ReplyKey, owner: string): Promise<void>;
  close(): Promise<void>;
}
