/**
 * Dialect-neutral gateway messages. The wire has two dialects (plain names and `cs_` names, see
 * gateway-protocol-v1.md); the relay speaks these types internally and the codec translates at the socket.
 */

import type { SendMsgType } from './send-frame-schemas.js';

/** Which wire dialect a gateway spoke in its hello; every frame the relay sends it uses the same one. */
export type Dialect = 'plain' | 'cs';

/** Message kinds the deployed protocol names; anything else WeCom sends is forwarded as `unknown`. */
export type InboundMsgType = 'text' | 'image' | 'voice' | 'unknown';

/**
 * Kinds a `rich_inbound` gateway sees in `msg_type` (reference §2.2); a kind WeCom adds later still arrives as
 * `unknown`, with WeCom's payload under `payload`. `menu` is a text that answers a menu click (it has a menu_id).
 */
export type RichMsgType =
  | InboundMsgType
  | 'menu'
  | 'video'
  | 'file'
  | 'location'
  | 'link'
  | 'business_card'
  | 'miniprogram'
  | 'msgmenu'
  | 'channels_shop_product'
  | 'channels_shop_order'
  | 'merged_msg'
  | 'channels'
  | 'note'
  | 'meeting'
  | 'schedule';

/** Why media was not inlined into an inbound frame. */
export type MediaError = 'too_large' | 'unavailable';

/** Delivery modes a gateway may ask for in hello. `legacy` (the default) means a frame counts once written. */
export type DeliveryMode = 'legacy' | 'ack';

// ---------- gateway → relay ----------

/** First frame on every socket. */
export interface HelloCommand {
  type: 'hello';
  gatewayId: string;
  authToken: string;
  /** Additive: a gateway that acknowledges each delivered message by id (at-least-once). */
  delivery: DeliveryMode;
  /** Additive: with `ack` delivery, resume after this delivery id instead of the last acknowledged one. */
  resumeAfter?: string;
  /** Additive: optional events the gateway wants, e.g. `send_failed`. Old gateways send none and get none. */
  features: GatewayFeature[];
}

/**
 * Optional behaviour a gateway may ask for in hello (`features`); docs/protocol.md says what each adds.
 * `rich_inbound`: every WeCom message kind typed (`msg_type` names it, an object of its fields beside it).
 * `session_events`: session_entered, session_status, message_recalled, customer_rejected, servicer_message frames,
 *   SESSION_TAKEN_OVER.
 * `rich_outbound`: the `send` (any kf/send_msg kind), `send_on_event`, `recall` and `service_state` commands.
 * `customer_profile`: `customer` (WeCom's profile: nickname, avatar, ...) on inbound and binding_resolved frames.
 * `media_by_reference`: media over the inline bound arrives as a signed, time-limited `media_url` served by the relay.
 * `media_by_reference_always`: every media file arrives as `media_url`, whatever its size (nothing inlined).
 */
export type GatewayFeature = 'send_failed' | 'rich_inbound' | 'session_events' | 'rich_outbound' | 'customer_profile'
  | 'long_binding_token' | 'media_by_reference' | 'media_by_reference_always';

/** Text back to a WeCom user. */
export interface ReplyCommand {
  type: 'reply';
  id: string;
  externalUserId: string;
  content: string;
}

/** Image back to a WeCom user (base64 payload, uploaded as WeCom media first). */
export interface ImageReplyCommand {
  type: 'image_reply';
  id: string;
  externalUserId: string;
  imageData: string;
  imageMime: string;
}

/** Ask for a QR link that binds the scanning WeCom user to this gateway. */
export interface CreateBindingCommand {
  type: 'create_binding';
  gatewayId: string;
  /** Additive: the kf account (open_kfid) the link is for; absent, the relay's first configured account. */
  openKfid?: string;
}

/** Remove every binding of this gateway and end those users' sessions. */
export interface UnbindAllCommand {
  type: 'unbind_all';
  gatewayId: string;
}

/** Additive: an ack-mode gateway confirms it has every delivery up to and including `deliveryId`. */
export interface DeliveryAckCommand {
  type: 'delivery_ack';
  deliveryId: string;
}

/**
 * Opt-in (`rich_outbound`): one message of any kind kf/send_msg takes. `payload` is the frame's object for `msgtype`,
 * already checked against WeCom's limits; media travel as base64 (`media_data`, `thumb_data`) and are uploaded first.
 */
export interface SendCommand {
  type: 'send';
  id: string;
  externalUserId: string;
  msgtype: SendMsgType;
  payload: Record<string, unknown>;
}

/**
 * Opt-in (`rich_outbound`): a message sent with a code WeCom handed out for one event (kf/send_msg_on_event): the
 * `welcome_code` of `session_entered`, or the `msg_code` of `session_status` or of a `service_state` move. Text or
 * menu only; the code works once, within WeCom's time for its event (20 s for a welcome).
 */
export interface SendOnEventCommand {
  type: 'send_on_event';
  id: string;
  externalUserId: string;
  code: string;
  msgtype: 'text' | 'msgmenu';
  payload: Record<string, unknown>;
}

/** Opt-in (`rich_outbound`): withdraw a message this gateway sent (kf/recall_msg), by WeCom's msgid. */
export interface RecallCommand {
  type: 'recall';
  id: string;
  msgid: string;
}

/** Opt-in (`rich_outbound`): read the customer's session state, or move it when `serviceState` is given. */
export interface ServiceStateCommand {
  type: 'service_state';
  id: string;
  externalUserId: string;
  serviceState?: number;
  servicerUserId?: string;
}

/** Everything a gateway may send, after decoding. */
export type GatewayCommand =
  | SendCommand
  | SendOnEventCommand
  | RecallCommand
  | ServiceStateCommand
  | HelloCommand
  | ReplyCommand
  | ImageReplyCommand
  | CreateBindingCommand
  | UnbindAllCommand
  | DeliveryAckCommand;

// ---------- relay → gateway ----------

/** A WeCom customer's message. */
export interface InboundEvent {
  type: 'inbound';
  /** WeCom's msgid. */
  id: string;
  externalUserId: string;
  /** One of InboundMsgType for old gateways; a RichMsgType for `rich_inbound` ones. */
  msgType: RichMsgType;
  /** The text; a short readable summary for non-media kinds the protocol does not name; empty for media. */
  content: string;
  /** WeCom's send_time, unix seconds. */
  timestamp: number;
  /** Additive: WeCom's own msgtype (`file`, `video`, `location`, ...), useful when msgType is `unknown`. */
  wecomMsgType: string;
  /** Additive: the kf account (open_kfid) the customer wrote to, when WeCom named it. */
  openKfid?: string;
  /** Base64 of the downloaded media, when the message carries media. */
  mediaData?: string;
  /** The Content-Type WeCom served the media with. */
  mediaMime?: string;
  /**
   * Additive: why the message's media is not inlined: `too_large` (over the relay's MEDIA_MAX_BYTES) or
   * `unavailable` (WeCom would not serve it, e.g. expired after 3 days). Absent when media is inlined or there is none.
   */
  mediaError?: MediaError;
  /**
   * Opt-in (`media_by_reference`): where to fetch the media instead of `mediaData`: a relay URL, signed and valid
   * until `mediaUrlExpiresAt`, that streams the file from WeCom when fetched.
   */
  mediaUrl?: string;
  /** Opt-in (`media_by_reference`): unix seconds after which `mediaUrl` is refused. */
  mediaUrlExpiresAt?: number;
  /** Additive, ack-mode gateways only: the delivery id to acknowledge (and resume after). */
  deliveryId?: string;
  /**
   * Opt-in (`rich_inbound`): the message's own fields, written as `<key>: {...fields}` beside the others
   * (e.g. `location: {latitude, longitude, name, address}`). `msgType` then names the kind instead of `unknown`.
   */
  detail?: InboundDetail;
  /** Opt-in (`customer_profile`): the customer's WeCom profile (nickname, avatar, gender, unionid...), when known. */
  customer?: Record<string, unknown>;
}

/** The typed part of a rich inbound frame: which key it is written under, and WeCom's fields for that kind. */
export interface InboundDetail {
  key: string;
  fields: Record<string, unknown>;
}

/**
 * Opt-in (`session_events`): a human servicer wrote to the customer from the WeCom client (origin 5). Same fields as
 * `inbound` (typed like a rich inbound), plus who wrote.
 */
export interface ServicerMessageEvent extends Omit<InboundEvent, 'type'> {
  type: 'servicer_message';
  servicerUserId: string;
}

/** Opt-in (`session_events`): the customer opened the conversation (WeCom's enter_session, not a binding scan). */
export interface SessionEnteredEvent {
  type: 'session_entered';
  /** WeCom's msgid of the event. */
  id: string;
  externalUserId: string;
  timestamp: number;
  scene?: string;
  sceneParam?: string;
  /** Present when WeCom allows one welcome message (valid 20 s). */
  welcomeCode?: string;
  /** When the customer came from WeChat Channels: nickname, shop_nickname, scene (1..5). */
  wechatChannels?: Record<string, unknown>;
  deliveryId?: string;
}

/** WeCom's session_status_change change_type in words. */
export type SessionChange = 'taken_from_pool' | 'transferred' | 'ended' | 'reentered' | 'unknown';

/** Opt-in (`session_events`): a servicer took, passed on, ended or reopened the customer's session in the WeCom client. */
export interface SessionStatusEvent {
  type: 'session_status';
  id: string;
  externalUserId: string;
  timestamp: number;
  /** WeCom's change_type: 1 taken from the pool, 2 transferred, 3 ended, 4 re-entered. */
  changeType: number;
  change: SessionChange;
  /** Whether a human servicer now holds the session (replies are then refused with SESSION_TAKEN_OVER). */
  humanServicing: boolean;
  oldServicerUserId?: string;
  newServicerUserId?: string;
  /** WeCom's msg_code (change types 1 and 3): one message may be sent with it through `send_on_event`. */
  msgCode?: string;
  deliveryId?: string;
}

/** Opt-in (`session_events`): a message was recalled, by the customer (user_recall_msg) or a servicer. */
export interface MessageRecalledEvent {
  type: 'message_recalled';
  id: string;
  externalUserId: string;
  timestamp: number;
  /** WeCom's msgid of the recalled message (the `id` of the inbound frame it was). */
  recallMsgid: string;
  by: 'customer' | 'servicer';
  servicerUserId?: string;
  deliveryId?: string;
}

/**
 * Opt-in (`session_events`): a servicer switched on (or off again) "reject this customer's messages" in the WeCom
 * client (reject_customer_msg_switch_change); while on, WeCom refuses the customer's messages.
 */
export interface CustomerRejectedEvent {
  type: 'customer_rejected';
  id: string;
  externalUserId: string;
  timestamp: number;
  /** The servicer who flipped the switch. */
  servicerUserId?: string;
  /** true: rejected from now on (reject_switch 1); false: accepted again (0). */
  rejected: boolean;
  deliveryId?: string;
}

/** A WeCom user is now bound to this gateway. */
export interface BindingResolvedEvent {
  type: 'binding_resolved';
  externalUserId: string;
  gatewayId: string;
  /** Additive, ack-mode gateways only: the delivery id to acknowledge. */
  deliveryId?: string;
  /** Opt-in (`customer_profile`): the customer's WeCom profile, when known. */
  customer?: Record<string, unknown>;
}

/** Dialect 2 only: sent after hello when the gateway has no binding. */
export interface BindingClearedEvent {
  type: 'binding_cleared';
  gatewayId: string;
}

/** Answer to create_binding. */
export interface CreateBindingAckEvent {
  type: 'create_binding_ack';
  token: string;
  customerServiceUrl: string;
}

/** Acknowledges hello, unbind_all, and (additively) a successful reply with WeCom's msgid. */
export interface AckEvent {
  type: 'ack';
  id: string;
  /** Additive: WeCom's msgid of the message a reply produced (of its first part when it was split). */
  msgid?: string;
  /** Additive (text replies): how many parts were sent; a reply over 2048 UTF-8 bytes is sent in several. */
  parts?: number;
  /** Additive: how many parts the reply was split into, when not all of them were sent. */
  partsTotal?: number;
  /** Additive: WeCom's msgid of every part sent, in order, when the reply was split. */
  msgids?: string[];
  /** Additive: why the rest of a split reply was not sent, and where in the content the unsent text starts. */
  unsent?: UnsentRest;
  /** `service_state` answers: the session's state (0 new, 1 bot, 2 queued, 3 human, 4 ended) and its servicer. */
  serviceState?: number;
  servicerUserId?: string;
  /** `service_state` moves: WeCom's msg_code for one message through `send_on_event` (e.g. a queue notice). */
  msgCode?: string;
}

/** The part of a split reply that was not sent. */
export interface UnsentRest {
  /** Error code from the relay's catalog (e.g. SEND_WINDOW_CLOSED). */
  code: string;
  message: string;
  /** UTF-8 byte offset in the reply's content where the unsent text starts. */
  offset: number;
  wecomErrcode?: number;
}

/** Something the gateway sent failed. `message` is what old gateways read; the rest is additive. */
export interface ErrorEvent {
  type: 'error';
  message: string;
  /** Stable error code from the relay's catalog. */
  code: string;
  /** The id of the request this answers, when there is one. */
  id?: string;
  /** WeCom's errcode, when WeCom refused the request. */
  wecomErrcode?: number;
}

/**
 * Opt-in (`features: ["send_failed"]`): WeCom reported later (msg_send_fail) that a reply it had accepted was not
 * delivered to the user. Sent to the gateway whose reply it was.
 */
export interface SendFailedEvent {
  type: 'send_failed';
  /** The id of the gateway's reply request. */
  id: string;
  externalUserId: string;
  /** WeCom's msgid of the failed message. */
  msgid: string;
  /** WeCom's fail_type (e.g. 4 session expired, 6 over the 5-message limit, 10 user rejected). */
  failType: number;
  /** A readable reason for fail_type. */
  reason: string;
  deliveryId?: string;
}

/** Everything the relay may send a gateway, before encoding. */
export type GatewayEvent =
  | InboundEvent
  | BindingResolvedEvent
  | SendFailedEvent
  | ServicerMessageEvent
  | SessionEnteredEvent
  | SessionStatusEvent
  | MessageRecalledEvent
  | CustomerRejectedEvent
  | BindingClearedEvent
  | CreateBindingAckEvent
  | AckEvent
  | ErrorEvent;

/**
 * Events that travel through the per-gateway delivery queue (durable, ordered, may cross nodes).
 * Inbound media is not inlined in the queue: the owning node downloads it when it writes the frame.
 */
export type QueuedEvent =
  | (Omit<InboundEvent, 'mediaData' | 'mediaMime' | 'mediaError' | 'mediaUrl' | 'mediaUrlExpiresAt' | 'detail'> & QueuedMessageExtras)
  | (Omit<ServicerMessageEvent, 'mediaData' | 'mediaMime' | 'mediaError' | 'mediaUrl' | 'mediaUrlExpiresAt' | 'detail'> & QueuedMessageExtras)
  | BindingResolvedEvent
  | SendFailedEvent
  | SessionEnteredEvent
  | SessionStatusEvent
  | MessageRecalledEvent
  | CustomerRejectedEvent;

/** What a queued message keeps so the delivering node can build any gateway's frame from it. */
export interface QueuedMessageExtras {
  mediaId?: string;
  /** WeCom's payload object for the msgtype, as pulled; typed per gateway when it is written (rich_inbound). */
  wecomPayload?: Record<string, unknown>;
}
