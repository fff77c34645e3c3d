/**
 * Dialect-neutral gateway messages. The wire has two dialects (plain names and `cs_` names, see
 * gateway-protocol-v1.md); the relay speaks these types internally and the codec translates at the socket.
 */

/** Which wire dialect a gateway spoke in its hello; every frame the relay sends it uses the same one. */
export type Dialect = 'plain' | 'cs';

/** Message kinds the deployed protocol names; anything else WeCom sends is forwarded as `unknown`. */
export type InboundMsgType = 'text' | 'image' | 'voice' | 'unknown';

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

/** Optional events a gateway may ask for in hello (`features`). */
export type GatewayFeature = 'send_failed';

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

/** Everything a gateway may send, after decoding. */
export type GatewayCommand =
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
  msgType: InboundMsgType;
  /** The text; a short readable summary for non-media kinds the protocol does not name; empty for media. */
  content: string;
  /** WeCom's send_time, unix seconds. */
  timestamp: number;
  /** Additive: WeCom's own msgtype (`file`, `video`, `location`, ...), useful when msgType is `unknown`. */
  wecomMsgType: string;
  /** Base64 of the downloaded media, when the message carries media. */
  mediaData?: string;
  /** The Content-Type WeCom served the media with. */
  mediaMime?: string;
  /**
   * Additive: why the message's media is not inlined: `too_large` (over the relay's MEDIA_MAX_BYTES) or
   * `unavailable` (WeCom would not serve it, e.g. expired after 3 days). Absent when media is inlined or there is none.
   */
  mediaError?: MediaError;
  /** Additive, ack-mode gateways only: the delivery id to acknowledge (and resume after). */
  deliveryId?: string;
}

/** A WeCom user is now bound to this gateway. */
export interface BindingResolvedEvent {
  type: 'binding_resolved';
  externalUserId: string;
  gatewayId: string;
  /** Additive, ack-mode gateways only: the delivery id to acknowledge. */
  deliveryId?: string;
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
  | BindingClearedEvent
  | CreateBindingAckEvent
  | AckEvent
  | ErrorEvent;

/**
 * Events that travel through the per-gateway delivery queue (durable, ordered, may cross nodes).
 * Inbound media is not inlined in the queue: the owning node downloads it when it writes the frame.
 */
export type QueuedEvent =
  | (Omit<InboundEvent, 'mediaData' | 'mediaMime' | 'mediaError'> & { mediaId?: string })
  | BindingResolvedEvent
  | SendFailedEvent;
