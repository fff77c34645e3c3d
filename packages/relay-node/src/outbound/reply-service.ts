import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { MAX_TEXT_CONTENT_BYTES, type ImageReplyCommand, type ReplyCommand } from '@wecom-relay/shared';
import type { BindingStore } from '../state/binding-store.js';
import type { OutboundLedger, SentReply } from '../state/outbound-ledger.js';
import type { ReplyRecord, ReplyRecordStore } from '../state/reply-record-store.js';
import {
  WECOM_WINDOW_RULE,
  WINDOW_ERRCODES,
  WINDOW_EXHAUSTED_ERRCODES,
  explainClosedWindow,
  explainLocalRefusal,
} from './send-window.js';
import type { RelayMetrics } from '../observability/metrics.js';
import { RelayError, isRelayError } from '../errors/relay-error.js';
import { gatewaySafeError } from '../errors/gateway-safe-error.js';
import type { Semaphore } from '../util/semaphore.js';
import { splitText } from './text-splitter.js';
import { TokenBuckets } from './token-buckets.js';
import { ReplyOnce, replyFingerprint, type ClaimHandle } from './reply-once.js';

/** WeCom's documented image cap is 10 MB but older docs say 2 MB; stay within the smaller (see the API reference). */
export const MAX_IMAGE_BYTES = 2 * 1024 * 1024;
const IMAGE_MIMES: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/jpg': 'jpg',
  'image/gif': 'gif',
  'image/bmp': 'bmp',
};

/** The WeCom calls replies make. */
export interface ReplyWecom {
  sendText(req: { openKfid: string; toUser: string; content: string; msgid?: string }): Promise<{ msgid: string }>;
  sendImage(req: { openKfid: string; toUser: string; mediaId: string; msgid?: string }): Promise<{ msgid: string }>;
  upload(type: 'image', data: Buffer, filename: string, mime: string): Promise<string>;
}

/** Options for {@link ReplyService}. */
export interface ReplyServiceOptions {
  bindings: BindingStore;
  ledger: OutboundLedger;
  /** Replies sent, so a resent reply is answered with its first ack. */
  records: ReplyRecordStore;
  wecom: ReplyWecom;
  /** Shared with inbound media downloads: bounds how many media transfers hold buffers at once. */
  transfers: Semaphore;
  /** The account replies go out from when the user's binding records none (the first configured one). */
  openKfid: string;
  /** Every configured account; with one (the default) replies never look the binding's account up. */
  openKfids?: readonly string[];
  nodeId: string;
  /** Per-gateway token bucket on replies (text and image). */
  rateLimit: { perSecond: number; burst: number };
  logger: Logger;
  metrics: RelayMetrics;
  now?: () => number;
  /** For tests: how resent replies wait for a copy in flight. */
  sleep?: (ms: number) => Promise<void>;
  inFlightWaitMs?: number;
}

/** What a reply produced: the WeCom msgids of the parts sent, and why the rest was not sent, if so. */
export type ReplyOutcome = ReplyRecord;

/** WeCom can report a failed delivery (msg_send_fail) up to the 3 days it keeps messages. */
const SENDER_TTL_MS = 3 * 24 * 3600 * 1000;

/**
 * Sends gateways' replies to WeCom users, only to users bound to the replying gateway: long texts in parts, each
 * reply once however often it is resent, never past WeCom's send window or the gateway's rate.
 */
export class ReplyService {
  private readonly now: () => number;
  private readonly buckets: TokenBuckets;
  private readonly once: ReplyOnce;

  constructor(private readonly o: ReplyServiceOptions) {
    this.now = o.now ?? Date.now;
    this.buckets = new TokenBuckets({ ratePerSecond: o.rateLimit.perSecond, burst: o.rateLimit.burst, now: this.now });
    this.once = new ReplyOnce({
      records: o.records,
      nodeId: o.nodeId,
      logger: o.logger,
      now: this.now,
      ...(o.sleep ? { sleep: o.sleep } : {}),
      ...(o.inFlightWaitMs !== undefined ? { inFlightWaitMs: o.inFlightWaitMs } : {}),
      onRepeat: () => o.metrics.repliesRepeated.inc(),
      onInProgress: () => o.metrics.repliesRefused.inc({ reason: 'in_progress' }),
    });
  }

  /**
   * Sends a text reply, split into parts of at most 2048 UTF-8 bytes when longer. Resolves once at least one part
   * went (the outcome says which did not and why); throws when none did.
   */
  async reply(gatewayId: string, cmd: ReplyCommand): Promise<ReplyOutcome> {
    this.admit(gatewayId, cmd.id);
    await this.assertBound(gatewayId, cmd.externalUserId, cmd.id);
    const user = cmd.externalUserId;
    const openKfid = await this.accountFor(user);
    const key = { gatewayId, requestId: cmd.id, fingerprint: replyFingerprint('text', user, cmd.content) };
    return this.once.run(key, async (claim) => {
      const parts = splitText(cmd.content, MAX_TEXT_CONTENT_BYTES);
      const sender = { gatewayId, requestId: cmd.id, externalUserId: user };
      const msgids: string[] = [];
      let offset = 0;
      for (const part of parts) {
        if (msgids.length > 0) await claim.extend();
        try {
          msgids.push(
            await this.sendOne('text', openKfid, sender, cmd.id, async () =>
              this.o.wecom.sendText({ openKfid, toUser: user, content: part, msgid: clientMsgid() }),
            ),
          );
          this.o.metrics.replyParts.inc();
        } catch (cause) {
          if (msgids.length === 0) throw cause;
          // Some parts went: the reply is acked (and remembered) with what went, whatever stopped the rest.
          const err = isRelayError(cause) ? cause : new RelayError('INTERNAL', 'the relay could not send the rest of the reply');
          this.o.logger.info({ gatewayId, requestId: cmd.id, openKfid, sent: msgids.length, parts: parts.length, err: cause }, 'reply sent in part');
          const wecomErrcode = err.details['wecomErrcode'];
          return {
            msgids,
            partsTotal: parts.length,
            unsent: { code: err.code, message: err.message, offset, ...(typeof wecomErrcode === 'number' ? { wecomErrcode } : {}) },
          };
        }
        offset += Buffer.byteLength(part, 'utf8');
      }
      return { msgids, partsTotal: parts.length };
    });
  }

  /** Uploads the image as WeCom media, then sends it; resolves to WeCom's msgid. */
  async imageReply(gatewayId: string, cmd: ImageReplyCommand): Promise<string> {
    this.admit(gatewayId, cmd.id);
    await this.assertBound(gatewayId, cmd.externalUserId, cmd.id);
    const ext = IMAGE_MIMES[cmd.imageMime.toLowerCase()];
    if (!ext) {
      throw new RelayError('IMAGE_INVALID', `image_mime must be one of ${Object.keys(IMAGE_MIMES).join(', ')}`, { id: cmd.id });
    }
    const data = decodeBase64(cmd.imageData);
    if (!data || data.length <= 5) throw new RelayError('IMAGE_INVALID', undefined, { id: cmd.id });
    if (data.length > MAX_IMAGE_BYTES) {
      throw new RelayError('IMAGE_TOO_LARGE', `image is ${data.length} bytes; the limit is ${MAX_IMAGE_BYTES}`, { id: cmd.id });
    }
    const user = cmd.externalUserId;
    const mime = cmd.imageMime.toLowerCase();
    const digest = createHash('sha256').update(data).digest('base64url');
    const openKfid = await this.accountFor(user);
    const key = { gatewayId, requestId: cmd.id, fingerprint: replyFingerprint('image', user, mime, digest) };
    const record = await this.once.run(key, async (claim: ClaimHandle) => {
      const sender = { gatewayId, requestId: cmd.id, externalUserId: user };
      const msgid = await this.sendOne('image', openKfid, sender, cmd.id, async () => {
        const mediaId = await this.o.transfers.run(() => this.o.wecom.upload('image', data, `reply.${ext}`, mime));
        await claim.extend();
        return this.o.wecom.sendImage({ openKfid, toUser: user, mediaId, msgid: clientMsgid() });
      });
      return { msgids: [msgid], partsTotal: 1 };
    });
    return record.msgids[0] ?? '';
  }

  /**
   * The kf account a customer is answered from: the one their binding came through, as deployed gateways name no
   * account in their replies; the first configured account when the binding records none.
   */
  async accountFor(externalUserId: string): Promise<string> {
    const accounts = this.o.openKfids ?? [this.o.openKfid];
    if (accounts.length <= 1) return this.o.openKfid;
    const recorded = await this.o.bindings.accountOf(externalUserId);
    // An account no longer configured cannot send; the first one is the best remaining guess.
    return recorded !== null && accounts.includes(recorded) ? recorded : this.o.openKfid;
  }

  /**
   * One message of any kind (`send`), under the same rules as replies: the gateway's rate, only to its own customers,
   * a slot in the customer's window, and sent once per request id and fingerprint however often it is resent.
   * `send` gets a fresh client msgid and the account to send from (the one whose window it took a slot in), and does
   * any upload itself.
   */
  async sendPrepared(
    gatewayId: string,
    req: { id: string; externalUserId: string; msgtype: string; fingerprint: string },
    send: (clientMsgid: string, openKfid: string) => Promise<{ msgid: string }>,
  ): Promise<string> {
    this.admit(gatewayId, req.id);
    await this.assertBound(gatewayId, req.externalUserId, req.id);
    const user = req.externalUserId;
    const openKfid = await this.accountFor(user);
    const key = { gatewayId, requestId: req.id, fingerprint: replyFingerprint(req.msgtype, user, req.fingerprint) };
    const record = await this.once.run(key, async () => {
      const sender = { gatewayId, requestId: req.id, externalUserId: user };
      return { msgids: [await this.sendOne(req.msgtype, openKfid, sender, req.id, () => send(clientMsgid(), openKfid))], partsTotal: 1 };
    });
    return record.msgids[0] ?? '';
  }

  /** The rate and binding checks alone, for requests that send no message (recall, service state). */
  async admitFor(gatewayId: string, id: string, externalUserId: string): Promise<void> {
    this.admit(gatewayId, id);
    await this.assertBound(gatewayId, externalUserId, id);
  }

  /** The per-gateway rate: refused before anything else is done, so a flood costs the relay little. */
  private admit(gatewayId: string, id: string): void {
    if (this.buckets.take(gatewayId)) return;
    this.o.metrics.repliesRefused.inc({ reason: 'rate_limited' });
    throw new RelayError('RATE_LIMITED', 'this gateway sends replies faster than the relay allows; retry later', { id });
  }

  private async assertBound(gatewayId: string, externalUserId: string, id: string): Promise<void> {
    if ((await this.o.bindings.gatewayFor(externalUserId)) !== gatewayId) {
      throw new RelayError('NOT_BOUND', undefined, { id });
    }
  }

  /**
   * One WeCom message from account `openKfid`: takes a slot in the customer's window with that account first (atomically, cluster-wide), so a closed window
   * is refused here without calling WeCom; gives the slot back when WeCom surely did not send the message.
   */
  private async sendOne(msgtype: string, openKfid: string, sender: SentReply, id: string, send: () => Promise<{ msgid: string }>): Promise<string> {
    const user = sender.externalUserId;
    const rule = WECOM_WINDOW_RULE;
    const at = this.now();
    const reservation = await this.o.ledger.reserveSend(openKfid, user, at, rule);
    if (!reservation.granted) {
      this.o.metrics.repliesRefused.inc({ reason: 'send_window_closed' });
      throw new RelayError('SEND_WINDOW_CLOSED', explainLocalRefusal(reservation.window, at, rule), { id });
    }
    try {
      const { msgid } = await send();
      this.o.metrics.messagesOut.inc({ msgtype, outcome: 'ok' });
      await this.o.ledger
        .rememberSender(msgid, sender, SENDER_TTL_MS)
        .catch((err: unknown) => this.o.logger.warn({ err, msgid }, 'could not record a sent message'));
      return msgid;
    } catch (err) {
      const errcode = (err as { errcode?: unknown }).errcode;
      const code = (err as { code?: unknown }).code;
      this.o.metrics.messagesOut.inc({ msgtype, outcome: typeof errcode === 'number' ? String(errcode) : 'unavailable' });
      this.o.logger.info({ err, externalUserId: user, requestId: id }, 'WeCom did not take a reply');
      if (typeof errcode === 'number' && WINDOW_EXHAUSTED_ERRCODES.has(errcode)) {
        // WeCom knows better than the ledger (a send the relay did not count): nothing more until the customer writes.
        await this.o.ledger.closeWindow(openKfid, user, rule).catch(() => undefined);
      } else if (code !== 'WECOM_UNAVAILABLE') {
        // WeCom refused, so nothing was sent; a call that got no (final) answer may have gone through: keep it counted.
        await this.o.ledger.releaseSend(openKfid, user, reservation.window.lastCustomerAt).catch(() => undefined);
      }
      if (typeof errcode === 'number' && WINDOW_ERRCODES.has(errcode)) {
        const window = await this.o.ledger.window(openKfid, user).catch(() => reservation.window);
        throw new RelayError('SEND_WINDOW_CLOSED', explainClosedWindow(errcode, window), { wecomErrcode: errcode, id }, { cause: err });
      }
      throw gatewaySafeError(err);
    }
  }
}

/**
 * A fresh client msgid per WeCom message: the WeCom client retries with the same one, so WeCom cannot send a retried
 * message twice. Not derived from the gateway's id, which old gateways may reuse across restarts.
 */
function clientMsgid(): string {
  return `r${randomBytes(15).toString('base64url')}`;
}

function decodeBase64(s: string): Buffer | null {
  const clean = s.replace(/^data:[^,]*,/, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) return null;
  return Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
}
