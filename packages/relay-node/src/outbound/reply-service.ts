import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ImageReplyCommand, ReplyCommand } from '@wecom-relay/shared';
import type { BindingStore } from '../state/binding-store.js';
import type { OutboundLedger } from '../state/outbound-ledger.js';
import { WINDOW_ERRCODES, explainClosedWindow } from './send-window.js';
import type { RelayMetrics } from '../observability/metrics.js';
import { RelayError } from '../errors/relay-error.js';
import type { Semaphore } from '../util/semaphore.js';

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

/** WeCom can report a failed delivery (msg_send_fail) up to the 3 days it keeps messages. */
const SENDER_TTL_MS = 3 * 24 * 3600 * 1000;

/** Sends gateways' replies to WeCom users, only to users bound to the replying gateway. */
export class ReplyService {
  constructor(
    private readonly o: {
      bindings: BindingStore;
      ledger: OutboundLedger;
      wecom: ReplyWecom;
      /** Shared with inbound media downloads: bounds how many media transfers hold buffers at once. */
      transfers: Semaphore;
      openKfid: string;
      logger: Logger;
      metrics: RelayMetrics;
    },
  ) {}

  /** Sends a text reply; resolves to WeCom's msgid. */
  async reply(gatewayId: string, cmd: ReplyCommand): Promise<string> {
    await this.assertBound(gatewayId, cmd.externalUserId, cmd.id);
    return this.observe('text', gatewayId, cmd, () =>
      this.o.wecom.sendText({ openKfid: this.o.openKfid, toUser: cmd.externalUserId, content: cmd.content, msgid: clientMsgid() }),
    );
  }

  /** Uploads the image as WeCom media, then sends it; resolves to WeCom's msgid. */
  async imageReply(gatewayId: string, cmd: ImageReplyCommand): Promise<string> {
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
    return this.observe('image', gatewayId, cmd, async () => {
      const mediaId = await this.o.transfers.run(() =>
        this.o.wecom.upload('image', data, `reply.${ext}`, cmd.imageMime.toLowerCase()),
      );
      return this.o.wecom.sendImage({ openKfid: this.o.openKfid, toUser: cmd.externalUserId, mediaId, msgid: clientMsgid() });
    });
  }

  private async assertBound(gatewayId: string, externalUserId: string, id: string): Promise<void> {
    if ((await this.o.bindings.gatewayFor(externalUserId)) !== gatewayId) {
      throw new RelayError('NOT_BOUND', undefined, { id });
    }
  }

  private async observe(
    msgtype: string,
    gatewayId: string,
    cmd: { id: string; externalUserId: string },
    send: () => Promise<{ msgid: string }>,
  ): Promise<string> {
    const user = cmd.externalUserId;
    try {
      const { msgid } = await send();
      this.o.metrics.messagesOut.inc({ msgtype, outcome: 'ok' });
      await this.o.ledger
        .recordSend(user, msgid, { gatewayId, requestId: cmd.id, externalUserId: user }, SENDER_TTL_MS)
        .catch((err: unknown) => this.o.logger.warn({ err, msgid }, 'could not record a sent message'));
      return msgid;
    } catch (err) {
      const errcode = (err as { errcode?: unknown }).errcode;
      const code = (err as { code?: unknown }).code;
      this.o.metrics.messagesOut.inc({ msgtype, outcome: typeof errcode === 'number' ? String(errcode) : 'unavailable' });
      if (typeof errcode === 'number' && WINDOW_ERRCODES.has(errcode)) {
        const window = await this.o.ledger.window(user).catch(() => ({ lastCustomerAt: null, sentSince: 0 }));
        throw new RelayError('SEND_WINDOW_CLOSED', explainClosedWindow(errcode, window), { wecomErrcode: errcode }, { cause: err });
      }
      if (code === 'WECOM_API_ERROR' || code === 'WECOM_UNAVAILABLE') {
        throw new RelayError(code, (err as Error).message, typeof errcode === 'number' ? { wecomErrcode: errcode } : {}, {
          cause: err,
        });
      }
      throw err;
    }
  }
}

/**
 * A fresh client msgid per reply: the WeCom client retries with the same one, so WeCom cannot send a retried
 * reply twice. Not derived from the gateway's id, which old gateways may reuse across restarts.
 */
function clientMsgid(): string {
  return `r${randomBytes(15).toString('base64url')}`;
}

function decodeBase64(s: string): Buffer | null {
  const clean = s.replace(/^data:[^,]*,/, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) return null;
  return Buffer.from(clean, clean.includes('-') || clean.includes('_') ? 'base64url' : 'base64');
}
