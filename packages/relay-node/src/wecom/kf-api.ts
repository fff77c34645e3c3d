import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import {
  addContactWayResponseSchema,
  parseSyncMsgPage,
  sendMsgResponseSchema,
  okResponseSchema,
  customerBatchGetResponseSchema,
  serviceStateGetResponseSchema,
  serviceStateTransResponseSchema,
  type SyncMsgResponse,
} from '@wecom-relay/shared';
import { ERRCODE_DUPLICATE_MSGID } from './wecom-api-error.js';
import { jsonReader, parsingReader, type WecomHttp } from './wecom-http.js';

/** kf/sync_msg request. */
export interface SyncMsgRequest {
  openKfid: string;
  /** next_cursor of the previous page; omitted: from the start of the last 3 days. */
  cursor?: string;
  /** The callback Token (valid 10 minutes); 95007 when stale, and the caller decides what to do. */
  token?: string;
  /** 1-1000; default 1000. */
  limit?: number;
  /** 0 AMR (default), 1 SILK. */
  voiceFormat?: 0 | 1;
}

/** A send: `msgid` is the client msgid (≤32 of [0-9a-zA-Z_-]); one is generated when absent so retries cannot duplicate. */
export interface SendTextRequest {
  openKfid: string;
  toUser: string;
  content: string;
  msgid?: string;
}

/** An image send; mediaId from media/upload. */
export interface SendImageRequest {
  openKfid: string;
  toUser: string;
  mediaId: string;
  msgid?: string;
}

/** A text sent with a welcome_code or msg_code. */
export interface SendTextOnEventRequest {
  code: string;
  content: string;
  msgid?: string;
}

/** kf/service_state/trans request. */
export interface TransServiceStateRequest {
  openKfid: string;
  externalUserId: string;
  /** 0 new, 1 smart assistant, 2 pool, 3 human servicer (servicerUserId required), 4 ended. */
  serviceState: number;
  servicerUserId?: string;
}

/** A fresh client msgid: 24 random bytes as 32 base64url characters. */
export function newClientMsgid(): string {
  return randomBytes(24).toString('base64url');
}

function json(value: unknown): () => { body: string; contentType: string } {
  const body = JSON.stringify(value);
  return () => ({ body, contentType: 'application/json' });
}

/** The kf (WeCom Customer Service) APIs the relay uses. */
export class KfApi {
  constructor(
    private readonly http: WecomHttp,
    private readonly logger: Logger,
  ) {}

  /** One page of kf/sync_msg. Items that do not parse are logged and skipped so the cursor can move past them. */
  syncMsg(req: SyncMsgRequest): Promise<SyncMsgResponse> {
    const api = 'kf/sync_msg';
    return this.http.call({
      api,
      method: 'POST',
      body: json({
        open_kfid: req.openKfid,
        ...(req.cursor ? { cursor: req.cursor } : {}),
        ...(req.token ? { token: req.token } : {}),
        ...(req.limit !== undefined ? { limit: req.limit } : {}),
        ...(req.voiceFormat !== undefined ? { voice_format: req.voiceFormat } : {}),
      }),
      read: parsingReader(api, (value) => this.#syncPage(api, value)),
    });
  }

  /** kf/send_msg text. Retried only with a client msgid, so WeCom can refuse a repeat instead of sending twice. */
  sendText(req: SendTextRequest): Promise<{ msgid: string }> {
    return this.#send('kf/send_msg', req.msgid, (msgid) => ({
      touser: req.toUser,
      open_kfid: req.openKfid,
      msgid,
      msgtype: 'text',
      text: { content: req.content },
    }));
  }

  /** kf/send_msg image. */
  sendImage(req: SendImageRequest): Promise<{ msgid: string }> {
    return this.#send('kf/send_msg', req.msgid, (msgid) => ({
      touser: req.toUser,
      open_kfid: req.openKfid,
      msgid,
      msgtype: 'image',
      image: { media_id: req.mediaId },
    }));
  }

  /** kf/send_msg_on_event text (welcome message; the code works once, within 20 s for enter_session). */
  sendTextOnEvent(req: SendTextOnEventRequest): Promise<{ msgid: string }> {
    return this.#send('kf/send_msg_on_event', req.msgid, (msgid) => ({
      code: req.code,
      msgid,
      msgtype: 'text',
      text: { content: req.content },
    }));
  }

  /** kf/send_msg_on_event of any msgtype it takes (text, msgmenu); the code works once. */
  sendMessageOnEvent(req: { code: string; msgtype: string; payload: Record<string, unknown>; msgid?: string }): Promise<{ msgid: string }> {
    return this.#send('kf/send_msg_on_event', req.msgid, (msgid) => ({
      code: req.code,
      msgid,
      msgtype: req.msgtype,
      [req.msgtype]: req.payload,
    }));
  }

  /** kf/add_contact_way: the URL a customer opens (scene ≤32 of [0-9a-zA-Z_-]). */
  async addContactWay(req: { openKfid: string; scene: string }): Promise<string> {
    const api = 'kf/add_contact_way';
    const answer = await this.http.call({
      api,
      method: 'POST',
      body: json({ open_kfid: req.openKfid, scene: req.scene }),
      read: jsonReader(api, addContactWayResponseSchema),
    });
    return answer.url;
  }

  /** kf/service_state/trans; msgCode (for send_msg_on_event) when WeCom returns one. */
  async transServiceState(req: TransServiceStateRequest): Promise<{ msgCode?: string }> {
    const api = 'kf/service_state/trans';
    const answer = await this.http.call({
      api,
      method: 'POST',
      body: json({
        open_kfid: req.openKfid,
        external_userid: req.externalUserId,
        service_state: req.serviceState,
        ...(req.servicerUserId !== undefined ? { servicer_userid: req.servicerUserId } : {}),
      }),
      read: jsonReader(api, serviceStateTransResponseSchema),
    });
    return answer.msg_code === undefined ? {} : { msgCode: answer.msg_code };
  }

  /** kf/send_msg of any msgtype; `payload` is WeCom's object for it (media already uploaded). */
  sendMessage(req: { openKfid: string; toUser: string; msgtype: string; payload: Record<string, unknown>; msgid?: string }) {
    return this.#send('kf/send_msg', req.msgid, (msgid) => ({
      touser: req.toUser,
      open_kfid: req.openKfid,
      msgid,
      msgtype: req.msgtype,
      [req.msgtype]: req.payload,
    }));
  }

  /**
   * kf/recall_msg: withdraws a message the API sent. Not retried: the repeat of a recall whose answer was lost would
   * be refused, reporting a failure for a recall that worked; the gateway sees WECOM_UNAVAILABLE and decides.
   */
  async recallMsg(req: { openKfid: string; msgid: string }): Promise<void> {
    const api = 'kf/recall_msg';
    await this.http.call({
      api,
      method: 'POST',
      body: json({ open_kfid: req.openKfid, msgid: req.msgid }),
      retryable: false,
      read: jsonReader(api, okResponseSchema),
    });
  }

  /** kf/service_state/get: the session's state and, when a human holds it, who. */
  async getServiceState(req: { openKfid: string; externalUserId: string }): Promise<{ serviceState: number; servicerUserId?: string }> {
    const api = 'kf/service_state/get';
    const a = await this.http.call({
      api,
      method: 'POST',
      body: json({ open_kfid: req.openKfid, external_userid: req.externalUserId }),
      retryable: true,
      read: jsonReader(api, serviceStateGetResponseSchema),
    });
    const servicer = a.servicer_userid ?? a.service_userid;
    return { serviceState: a.service_state, ...(servicer ? { servicerUserId: servicer } : {}) };
  }

  /** kf/customer/batchget (1-100 ids): profiles by external_userid; ids WeCom does not know are absent. */
  async batchGetCustomers(externalUserIds: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const api = 'kf/customer/batchget';
    const a = await this.http.call({
      api,
      method: 'POST',
      body: json({ external_userid_list: externalUserIds, need_enter_session_context: 0 }),
      retryable: true,
      read: jsonReader(api, customerBatchGetResponseSchema),
    });
    return new Map(a.customer_list.map((c) => [c.external_userid, c as Record<string, unknown>]));
  }

  async #send(api: string, msgid: string | undefined, build: (msgid: string) => Record<string, unknown>): Promise<{ msgid: string }> {
    const clientMsgid = msgid ?? newClientMsgid();
    const answer = await this.http.call({
      api,
      method: 'POST',
      body: json(build(clientMsgid)),
      retryable: true,
      alreadyDoneErrcodes: [ERRCODE_DUPLICATE_MSGID],
      alreadyDone: () => ({ msgid: clientMsgid }),
      read: jsonReader(api, sendMsgResponseSchema),
    });
    return { msgid: answer.msgid };
  }

  #syncPage(api: string, value: unknown): SyncMsgResponse | null {
    const parsed = parseSyncMsgPage(value);
    if (!parsed) return null;
    for (const r of parsed.rejected) {
      this.logger.warn({ api, index: r.index, reason: r.reason, item: r.item }, 'sync_msg item skipped: unexpected shape');
    }
    return parsed.page;
  }
}
