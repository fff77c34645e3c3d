import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ReplyKey, ReplyRecord, ReplyRecordStore } from '../state/reply-record-store.js';
import { RelayError } from '../errors/relay-error.js';

/** A sent reply's ack is remembered this long: a gateway resends after a reconnect, within seconds or minutes. */
export const REPLY_RECORD_TTL_MS = 24 * 3600 * 1000;
/**
 * A claim frees itself this long after its owner last touched it, so a node that died mid-send cannot block the
 * id for long. Owners extend it before each WeCom call; one call (with the client's retries) ends well within it.
 */
export const REPLY_CLAIM_TTL_MS = 60_000;

/** Options for {@link ReplyOnce}. */
export interface ReplyOnceOptions {
  records: ReplyRecordStore;
  /** Names this node in claims (for operators reading Redis). */
  nodeId: string;
  logger: Logger;
  /** How long a resent reply waits for a copy in flight elsewhere before REPLY_IN_PROGRESS. Default 10 s. */
  inFlightWaitMs?: number;
  /** How often it looks again meanwhile. Default 200 ms. */
  pollMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Counts a repeat answered from the record, and a repeat given up on. */
  onRepeat?: () => void;
  onInProgress?: () => void;
}

/** What the sender is handed: how to keep its claim alive between WeCom calls. */
export interface ClaimHandle {
  extend(): Promise<void>;
}

/**
 * Runs each reply once per (gateway, request id, fingerprint), cluster-wide: the first copy claims it and sends;
 * a copy that arrives later gets the first ack without a WeCom call; a copy that arrives while the first is in
 * flight waits for its outcome (bounded) or is told to retry. A reply that sent nothing is forgotten, so the
 * gateway may try it again.
 */
export class ReplyOnce {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: ReplyOnceOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? ((ms) => sleep(ms));
  }

  /** `send` must throw when it sent nothing, and resolve with a record of at least one WeCom msgid otherwise. */
  async run(key: ReplyKey, send: (claim: ClaimHandle) => Promise<ReplyRecord>): Promise<ReplyRecord> {
    const owner = `${this.o.nodeId}:${randomUUID()}`;
    const deadline = this.now() + (this.o.inFlightWaitMs ?? 10_000);
    for (;;) {
      const claim = await this.o.records.claim(key, owner, REPLY_CLAIM_TTL_MS);
      if (claim.state === 'done') {
        this.o.onRepeat?.();
        this.o.logger.info({ gatewayId: key.gatewayId, requestId: key.requestId }, 'resent reply answered with its first ack');
        return claim.record;
      }
      if (claim.state === 'claimed') break;
      if (this.now() >= deadline) {
        this.o.onInProgress?.();
        throw new RelayError('REPLY_IN_PROGRESS', undefined, { id: key.requestId });
      }
      await this.sleep(this.o.pollMs ?? 200);
    }
    let record: ReplyRecord;
    try {
      record = await send({
        // Never throws: once a part went, losing the claim must not turn the reply into a failure (and a resend).
        extend: async () => {
          const held = await this.o.records.extend(key, owner, REPLY_CLAIM_TTL_MS).catch((err: unknown) => {
            this.o.logger.warn({ err, requestId: key.requestId }, 'could not extend a reply claim');
            return true;
          });
          if (!held) this.o.logger.warn({ gatewayId: key.gatewayId, requestId: key.requestId }, 'reply claim lapsed while sending');
        },
      });
    } catch (err) {
      await this.o.records
        .release(key, owner)
        .catch((e: unknown) => this.o.logger.warn({ err: e, requestId: key.requestId }, 'could not release a reply claim'));
      throw err;
    }
    await this.o.records
      .complete(key, record, REPLY_RECORD_TTL_MS)
      .catch((err: unknown) => this.o.logger.warn({ err, requestId: key.requestId }, 'could not remember a sent reply'));
    return record;
  }
}

/** Fingerprint of what a reply sends: kind, customer and content, so a reused request id with other content is new. */
export function replyFingerprint(kind: string, externalUserId: string, ...content: string[]): string {
  const h = createHash('sha256').update(kind).update('\0').update(externalUserId);
  for (const c of content) h.update('\0').update(c);
  return h.digest('base64url');
}
