import { createHash } from 'node:crypto';
import type { AckEvent, RecallCommand, SendCommand, SendOnEventCommand, ServiceStateCommand } from '@wecom-relay/shared';
import { RelayError } from '../errors/relay-error.js';
import type { OutboundLedger } from '../state/outbound-ledger.js';
import type { Semaphore } from '../util/semaphore.js';
import type { WecomMediaType } from '../wecom/media-api.js';
import type { ReplyService } from './reply-service.js';
import { fetchMediaUrl } from './media-url-fetch.js';
import { MAX_IMAGE_BYTES } from './reply-service.js';

/** The WeCom calls `send`, `recall` and `service_state` make. */
export interface RichSendWecom {
  sendMessage(req: { openKfid: string; toUser: string; msgtype: string; payload: Record<string, unknown>; msgid?: string }): Promise<{ msgid: string }>;
  upload(type: WecomMediaType, data: Buffer, filename: string, mime: string): Promise<string>;
  sendMessageOnEvent(req: { code: string; msgtype: string; payload: Record<string, unknown> }): Promise<{ msgid: string }>;
  recallMsg(req: { openKfid: string; msgid: string }): Promise<void>;
  getServiceState(req: { openKfid: string; externalUserId: string }): Promise<{ serviceState: number; servicerUserId?: string }>;
  transServiceState(req: { openKfid: string; externalUserId: string; serviceState: number; servicerUserId?: string }): Promise<{ msgCode?: string }>;
}

/** media/upload limits (reference §3.4): > 5 bytes; image 2 MB (10 MB UNCONFIRMED), voice 2 MB AMR, video 10 MB MP4, file 20 MB. */
export const MEDIA_LIMITS: Readonly<Record<WecomMediaType, { maxBytes: number; kind: string; sniff?: (b: Buffer) => boolean }>> = {
  image: { maxBytes: MAX_IMAGE_BYTES, kind: 'JPG or PNG', sniff: (b) => isPng(b) || isJpeg(b) },
  voice: { maxBytes: 2 * 1024 * 1024, kind: 'AMR', sniff: (b) => b.subarray(0, 6).toString('latin1') === '#!AMR\n' },
  video: { maxBytes: 10 * 1024 * 1024, kind: 'MP4', sniff: (b) => b.length > 8 && b.subarray(4, 8).toString('latin1') === 'ftyp' },
  file: { maxBytes: 20 * 1024 * 1024, kind: 'any file' },
};
const MIN_MEDIA_BYTES = 6;
/** How long a sent message is remembered for recall: as long as WeCom keeps a conversation (3 days). */
const SENT_MESSAGE_MEMORY_MS = 3 * 24 * 3600 * 1000;
const DEFAULT_EXT: Record<WecomMediaType, string> = { image: 'png', voice: 'amr', video: 'mp4', file: 'bin' };
const DEFAULT_MIME: Record<WecomMediaType, string> = { image: 'image/png', voice: 'voice/amr', video: 'video/mp4', file: 'application/octet-stream' };

/**
 * The `rich_outbound` commands: any kf/send_msg kind (media uploaded from the frame's bytes after WeCom's limits are
 * checked here, so a refusal names the limit and costs no upload), recall of the gateway's own messages, and the
 * customer's service state. Sending goes through ReplyService, so window, rate and once-per-id hold as for replies.
 */
export class RichSendService {
  constructor(
    /** Each customer is served from the account their binding came through (ReplyService.accountFor). */
    private readonly o: {
      replies: ReplyService;
      ledger: OutboundLedger;
      wecom: RichSendWecom;
      transfers: Semaphore;
      /** Media a gateway names by URL: how long a fetch may take, and whether non-public addresses may be reached. */
      mediaUrls?: { timeoutMs: number; allowPrivateNetworks: boolean };
    },
  ) {}

  /** Sends one message; resolves to WeCom's msgid. */
  async send(gatewayId: string, cmd: SendCommand): Promise<string> {
    const uploads = await this.mediaOf(cmd);
    const digest = createHash('sha256').update(JSON.stringify(cmd.payload)).digest('base64url');
    return this.o.replies.sendPrepared(
      gatewayId,
      { id: cmd.id, externalUserId: cmd.externalUserId, msgtype: cmd.msgtype, fingerprint: digest },
      async (msgid, openKfid) => {
        const payload: Record<string, unknown> = { ...cmd.payload };
        for (const u of uploads) {
          for (const f of u.strip) delete payload[f];
          payload[u.field] = await this.o.transfers.run(() => this.o.wecom.upload(u.type, u.data, u.filename, u.mime));
        }
        return this.o.wecom.sendMessage({ openKfid, toUser: cmd.externalUserId, msgtype: cmd.msgtype, payload, msgid });
      },
    );
  }

  /**
   * Sends a text or menu with an event's code (kf/send_msg_on_event). It is outside the customer's 48 h / 5-message
   * window (a welcome goes to a customer who has not written), so only the rate and the binding are checked here;
   * WeCom judges the code (once, within its time). The message is remembered as this gateway's, so it can be recalled.
   */
  async sendOnEvent(gatewayId: string, cmd: SendOnEventCommand): Promise<string> {
    await this.o.replies.admitFor(gatewayId, cmd.id, cmd.externalUserId);
    const { msgid } = await this.o.wecom.sendMessageOnEvent({ code: cmd.code, msgtype: cmd.msgtype, payload: cmd.payload });
    await this.o.ledger
      .rememberSender(msgid, { gatewayId, requestId: cmd.id, externalUserId: cmd.externalUserId }, SENT_MESSAGE_MEMORY_MS)
      .catch(() => undefined);
    return msgid;
  }

  /** Recalls a message this gateway sent (WeCom allows it only shortly after sending; UNCONFIRMED: 2 minutes). */
  async recall(gatewayId: string, cmd: RecallCommand): Promise<void> {
    const sender = await this.o.ledger.senderOf(cmd.msgid);
    if (!sender || sender.gatewayId !== gatewayId) throw new RelayError('NOT_YOUR_MESSAGE', undefined, { id: cmd.id });
    await this.o.replies.admitFor(gatewayId, cmd.id, sender.externalUserId);
    await this.o.wecom.recallMsg({ openKfid: await this.o.replies.accountFor(sender.externalUserId), msgid: cmd.msgid });
  }

  /** Reads the session state, or moves it (e.g. 3 with a servicer to hand to a human, 1 to take it back). */
  async serviceState(gatewayId: string, cmd: ServiceStateCommand): Promise<AckEvent> {
    await this.o.replies.admitFor(gatewayId, cmd.id, cmd.externalUserId);
    const who = { openKfid: await this.o.replies.accountFor(cmd.externalUserId), externalUserId: cmd.externalUserId };
    let msgCode: string | undefined;
    if (cmd.serviceState !== undefined) {
      if (cmd.serviceState === 3 && !cmd.servicerUserId) {
        throw new RelayError('FRAME_INVALID', 'service_state: servicer_userid is required for state 3 (a human servicer)', { id: cmd.id });
      }
      ({ msgCode } = await this.o.wecom.transServiceState({
        ...who,
        serviceState: cmd.serviceState,
        ...(cmd.servicerUserId ? { servicerUserId: cmd.servicerUserId } : {}),
      }));
    }
    const now = await this.o.wecom.getServiceState(who);
    return {
      type: 'ack',
      id: cmd.id,
      serviceState: now.serviceState,
      ...(now.servicerUserId ? { servicerUserId: now.servicerUserId } : {}),
      ...(msgCode ? { msgCode } : {}),
    };
  }

  /** The uploads a send needs (fetched first when named by URL), checked against WeCom's limits before anything is sent. */
  private async mediaOf(cmd: SendCommand): Promise<{ type: WecomMediaType; field: string; strip: string[]; data: Buffer; filename: string; mime: string }[]> {
    const p = cmd.payload;
    const s = (k: string) => (typeof p[k] === 'string' ? (p[k] as string) : undefined);
    switch (cmd.msgtype) {
      case 'image':
      case 'voice':
      case 'video':
      case 'file': {
        const type = cmd.msgtype;
        const strip = ['media_data', 'media_url', 'media_mime', 'filename'];
        const url = s('media_url');
        if (url !== undefined) {
          const field = `${type}.media_url`;
          const settings = this.o.mediaUrls ?? { timeoutMs: 30_000, allowPrivateNetworks: false };
          const got = await this.o.transfers.run(() =>
            fetchMediaUrl(url, { ...settings, maxBytes: MEDIA_LIMITS[type].maxBytes, field, id: cmd.id }),
          );
          const data = checkedBytes(cmd.id, field, type, got.data);
          const mime = s('media_mime') ?? (got.mime || DEFAULT_MIME[type]);
          return [{ type, field: 'media_id', strip, data, filename: s('filename') ?? got.filename ?? `${type}.${DEFAULT_EXT[type]}`, mime }];
        }
        const data = checkedMedia(cmd.id, `${type}.media_data`, type, s('media_data') ?? '');
        const mime = s('media_mime') ?? DEFAULT_MIME[type];
        return [{ type, field: 'media_id', strip, data, filename: s('filename') ?? `${type}.${DEFAULT_EXT[type]}`, mime }];
      }
      case 'link':
      case 'miniprogram': {
        const data = checkedMedia(cmd.id, `${cmd.msgtype}.thumb_data`, 'image', s('thumb_data') ?? '');
        const mime = s('thumb_mime') ?? (isJpeg(data) ? 'image/jpeg' : 'image/png');
        return [{ type: 'image', field: 'thumb_media_id', strip: ['thumb_data', 'thumb_mime'], data, filename: `thumb.${isJpeg(data) ? 'jpg' : 'png'}`, mime }];
      }
      default:
        return [];
    }
  }
}

function checkedMedia(id: string, field: string, type: WecomMediaType, base64: string): Buffer {
  return checkedBytes(id, field, type, Buffer.from(base64, base64.includes('-') || base64.includes('_') ? 'base64url' : 'base64'));
}

function checkedBytes(id: string, field: string, type: WecomMediaType, data: Buffer): Buffer {
  const limit = MEDIA_LIMITS[type];
  if (data.length < MIN_MEDIA_BYTES) {
    throw new RelayError('MEDIA_INVALID', `${field} is ${data.length} bytes; WeCom needs more than 5`, { id });
  }
  if (data.length > limit.maxBytes) {
    throw new RelayError('MEDIA_TOO_LARGE', `${field} is ${data.length} bytes; WeCom's ${type} limit is ${limit.maxBytes}`, { id });
  }
  if (limit.sniff && !limit.sniff(data)) {
    throw new RelayError('MEDIA_INVALID', `${field} is not ${limit.kind}; WeCom takes only ${limit.kind} as ${type}`, { id });
  }
  return data;
}

function isPng(b: Buffer): boolean {
  return b.length >= 8 && b.readUInt32BE(0) === 0x89504e47;
}

function isJpeg(b: Buffer): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}
