import type {
  BindingCleared,
  CustomerRejected,
  DeliveredEvent,
  InboundMessage,
  MessageRecalled,
  RelayErrorFrame,
  ServicerMessage,
  SessionEntered,
  SessionStatus,
} from './events.js';
import type { OnEventMsgType, SendBodies, SendMsgType, ServiceStateMove } from './rich-commands.js';

/** Wire dialect: `plain` names, or `cs_` names with `customer_id` (newer gateway builds). */
export type Dialect = 'plain' | 'cs';

/** One part of a reply the relay split into several WeCom messages, when it says so. */
export interface ReplyPart {
  msgid: string;
}

/** A relay answer to a request, or an event, after dialect differences are removed. */
export type IncomingFrame =
  | { kind: 'ack'; id: string; msgid?: string; parts?: ReplyPart[]; serviceState?: number; servicerUserId?: string; msgCode?: string }
  | { kind: 'error'; error: RelayErrorFrame }
  | { kind: 'create_binding_ack'; token: string; customerServiceUrl: string }
  | { kind: 'event'; event: DeliveredEvent }
  | { kind: 'binding_cleared'; event: BindingCleared }
  | { kind: 'unknown'; type: string }
  | { kind: 'invalid'; text: string };

/** Ids the relay answers commands without an id of their own with (`hello`, `unbind_all`, `create_binding`). */
const NAMED_IDS = new Set(['hello', 'unbind_all', 'create_binding']);

type Json = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Copies the listed optional string fields that are present. */
/** A JSON object field, or undefined. */
function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function optional<T extends object>(target: T, source: Json, fields: Array<[keyof T & string, string]>): T {
  for (const [to, from] of fields) {
    const value = str(source[from]);
    if (value !== undefined) (target as Record<string, unknown>)[to] = value;
  }
  return target;
}

function parseParts(value: unknown): ReplyPart[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const parts: ReplyPart[] = [];
  for (const item of value) {
    const msgid = typeof item === 'string' ? item : str((item as Json | null)?.msgid);
    if (msgid !== undefined) parts.push({ msgid });
  }
  return parts;
}

/** Decodes one text frame from the relay; never throws. */
export function parseFrame(text: string): IncomingFrame {
  let f: Json;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || typeof (parsed as Json).type !== 'string') {
      return { kind: 'invalid', text: text.slice(0, 200) };
    }
    f = parsed as Json;
  } catch {
    return { kind: 'invalid', text: text.slice(0, 200) };
  }
  const rawType = f.type as string;
  const cs = rawType.startsWith('cs_');
  const type = cs ? rawType.slice(3) : rawType;
  const user = str(cs ? f.customer_id : f.external_user_id) ?? '';
  const rawId = str(f.id);
  const id = rawId !== undefined && cs && rawId.startsWith('cs_') && NAMED_IDS.has(rawId.slice(3)) ? rawId.slice(3) : rawId;
  switch (type) {
    case 'ack': {
      if (id === undefined) return { kind: 'unknown', type: rawType };
      const ack: Extract<IncomingFrame, { kind: 'ack' }> = { kind: 'ack', id };
      const msgid = str(f.msgid);
      if (msgid !== undefined) ack.msgid = msgid;
      const parts = parseParts(f.parts);
      if (parts !== undefined) ack.parts = parts;
      const serviceState = num(f.service_state);
      if (serviceState !== undefined) ack.serviceState = serviceState;
      optional(ack, f, [
        ['servicerUserId', 'servicer_userid'],
        ['msgCode', 'msg_code'],
      ]);
      return ack;
    }
    case 'error': {
      const error: RelayErrorFrame = { type: 'error', message: str(f.message) ?? '' };
      optional(error, f, [['code', 'code']]);
      if (id !== undefined) error.id = id;
      const wecomErrcode = num(f.wecom_errcode);
      if (wecomErrcode !== undefined) error.wecomErrcode = wecomErrcode;
      return { kind: 'error', error };
    }
    case 'create_binding_ack':
      return { kind: 'create_binding_ack', token: str(f.token) ?? '', customerServiceUrl: str(f.customer_service_url) ?? '' };
    case 'inbound':
    case 'servicer_message': {
      const base = {
        id: id ?? '',
        externalUserId: user,
        msgType: str(f.msg_type) ?? 'unknown',
        content: str(f.content) ?? '',
        timestamp: num(f.timestamp) ?? 0,
      };
      const event: InboundMessage | ServicerMessage =
        type === 'inbound'
          ? { type: 'inbound', ...base }
          : { type: 'servicer_message', ...base, servicerUserId: str(f.servicer_userid) ?? '' };
      optional(event, f, [
        ['wecomMsgType', 'wecom_msg_type'],
        ['mediaData', 'media_data'],
        ['mediaMime', 'media_mime'],
        ['mediaError', 'media_error'],
        ['mediaUrl', 'media_url'],
        ['deliveryId', 'delivery_id'],
      ]);
      const expiresAt = num(f.media_url_expires_at);
      if (expiresAt !== undefined) event.mediaUrlExpiresAt = expiresAt;
      const details = record(f[event.msgType === 'unknown' ? 'payload' : event.msgType]);
      if (details) event.details = details;
      const customer = record(f.customer);
      if (customer) event.customer = customer;
      return { kind: 'event', event };
    }
    case 'binding_resolved': {
      const event: DeliveredEvent = { type: 'binding_resolved', externalUserId: user, gatewayId: str(f.gateway_id) ?? '' };
      optional(event, f, [['deliveryId', 'delivery_id']]);
      const customer = record(f.customer);
      if (customer) event.customer = customer;
      return { kind: 'event', event };
    }
    case 'send_failed': {
      const event: DeliveredEvent = {
        type: 'send_failed',
        id: id ?? '',
        externalUserId: user,
        msgid: str(f.msgid) ?? '',
        failType: num(f.fail_type) ?? 0,
        reason: str(f.reason) ?? '',
      };
      optional(event, f, [['deliveryId', 'delivery_id']]);
      return { kind: 'event', event };
    }
    case 'session_entered': {
      const event: SessionEntered = { type, id: id ?? '', externalUserId: user, timestamp: num(f.timestamp) ?? 0 };
      optional(event, f, [
        ['scene', 'scene'],
        ['sceneParam', 'scene_param'],
        ['welcomeCode', 'welcome_code'],
        ['deliveryId', 'delivery_id'],
      ]);
      const channels = record(f.wechat_channels);
      if (channels) event.wechatChannels = channels;
      return { kind: 'event', event };
    }
    case 'session_status': {
      const event: SessionStatus = {
        type,
        id: id ?? '',
        externalUserId: user,
        timestamp: num(f.timestamp) ?? 0,
        changeType: num(f.change_type) ?? 0,
        change: str(f.change) ?? 'unknown',
        humanServicing: f.human_servicing === true,
      };
      optional(event, f, [
        ['oldServicerUserId', 'old_servicer_userid'],
        ['newServicerUserId', 'new_servicer_userid'],
        ['msgCode', 'msg_code'],
        ['deliveryId', 'delivery_id'],
      ]);
      return { kind: 'event', event };
    }
    case 'message_recalled': {
      const event: MessageRecalled = {
        type,
        id: id ?? '',
        externalUserId: user,
        timestamp: num(f.timestamp) ?? 0,
        recallMsgid: str(f.recall_msgid) ?? '',
        by: str(f.by) ?? 'customer',
      };
      optional(event, f, [
        ['servicerUserId', 'servicer_userid'],
        ['deliveryId', 'delivery_id'],
      ]);
      return { kind: 'event', event };
    }
    case 'customer_rejected': {
      const event: CustomerRejected = {
        type,
        id: id ?? '',
        externalUserId: user,
        timestamp: num(f.timestamp) ?? 0,
        rejected: f.rejected === true,
      };
      optional(event, f, [
        ['servicerUserId', 'servicer_userid'],
        ['deliveryId', 'delivery_id'],
      ]);
      return { kind: 'event', event };
    }
    case 'binding_cleared':
      return { kind: 'binding_cleared', event: { type: 'binding_cleared', gatewayId: str(f.gateway_id) ?? '' } };
    default:
      return { kind: 'unknown', type: rawType };
  }
}

/** Encodes commands in one dialect. */
export class FrameWriter {
  constructor(
    private readonly dialect: Dialect,
    private readonly gatewayId: string,
  ) {}

  private type(base: string): string {
    return this.dialect === 'cs' ? `cs_${base}` : base;
  }

  private userKey(): string {
    return this.dialect === 'cs' ? 'customer_id' : 'external_user_id';
  }

  private platform(frame: Json): Json {
    if (this.dialect === 'cs') frame.platform = 'wecom';
    return frame;
  }

  /** hello in acknowledged delivery mode, resuming after `resumeAfter` when known. */
  hello(authToken: string, resumeAfter: string | undefined, features: readonly string[]): string {
    const frame: Json = { type: this.type('hello'), gateway_id: this.gatewayId, auth_token: authToken, delivery: 'ack' };
    if (resumeAfter !== undefined) frame.resume_after = resumeAfter;
    if (features.length > 0) frame.features = [...features];
    return JSON.stringify(this.platform(frame));
  }

  reply(id: string, user: string, content: string): string {
    return JSON.stringify(this.platform({ type: this.type('reply'), id, [this.userKey()]: user, content }));
  }

  imageReply(id: string, user: string, imageBase64: string, mime: string): string {
    return JSON.stringify(
      this.platform({ type: this.type('image_reply'), id, [this.userKey()]: user, image_data: imageBase64, image_mime: mime }),
    );
  }

  createBinding(): string {
    return JSON.stringify(this.platform({ type: this.type('create_binding'), gateway_id: this.gatewayId }));
  }

  unbindAll(): string {
    return JSON.stringify(this.platform({ type: this.type('unbind_all'), gateway_id: this.gatewayId }));
  }

  /** `send` (rich_outbound): one message of any kind kf/send_msg takes. */
  send<T extends SendMsgType>(id: string, user: string, msgtype: T, body: SendBodies[T]): string {
    return JSON.stringify(this.platform({ type: this.type('send'), id, [this.userKey()]: user, msgtype, [msgtype]: body }));
  }

  /** `send_on_event` (rich_outbound): a text or menu with an event's code. */
  sendOnEvent<T extends OnEventMsgType>(id: string, user: string, code: string, msgtype: T, body: SendBodies[T]): string {
    return JSON.stringify(this.platform({ type: this.type('send_on_event'), id, [this.userKey()]: user, code, msgtype, [msgtype]: body }));
  }

  /** `recall` (rich_outbound). */
  recall(id: string, msgid: string): string {
    return JSON.stringify(this.platform({ type: this.type('recall'), id, msgid }));
  }

  /** `service_state` (rich_outbound): read, or move when `move` is given. */
  serviceState(id: string, user: string, move: ServiceStateMove | undefined): string {
    const frame: Json = { type: this.type('service_state'), id, [this.userKey()]: user };
    if (move) {
      frame.service_state = move.serviceState;
      if (move.servicerUserId !== undefined) frame.servicer_userid = move.servicerUserId;
    }
    return JSON.stringify(this.platform(frame));
  }

  deliveryAck(deliveryId: string): string {
    return JSON.stringify({ type: this.type('delivery_ack'), delivery_id: deliveryId });
  }
}
