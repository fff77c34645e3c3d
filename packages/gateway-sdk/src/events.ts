/** Message kinds the protocol names; anything else WeCom sends arrives as `unknown` (see `wecomMsgType`). */
export type InboundMsgType = 'text' | 'image' | 'voice' | 'unknown';

/** A WeCom customer's message. */
export interface InboundMessage {
  type: 'inbound';
  /** WeCom's msgid: unique per message, the key repeats are dropped by. */
  id: string;
  externalUserId: string;
  msgType: InboundMsgType | (string & {});
  /** The text; empty for media. */
  content: string;
  /** WeCom's send_time, unix seconds. */
  timestamp: number;
  /** WeCom's own msgtype (`file`, `video`, `location`, ...), when the relay says it. */
  wecomMsgType?: string;
  /** Base64 of the downloaded media. */
  mediaData?: string;
  mediaMime?: string;
  /** Why the media is not inlined: `too_large` or `unavailable`. */
  mediaError?: string;
  /**
   * With `media_by_reference` (or `media_by_reference_always`): a signed relay link the media streams from, instead
   * of `mediaData`; fetch it with `RelayGateway.fetchMedia` before `mediaUrlExpiresAt` (unix seconds).
   */
  mediaUrl?: string;
  mediaUrlExpiresAt?: number;
  /** The relay's delivery id (acknowledged for you). */
  deliveryId?: string;
  /**
   * With the `rich_inbound` feature: the message kind's own fields (e.g. `{latitude, longitude, name, address}` for
   * `location`, `{menu_id, content}` for `menu`); WeCom's payload for `unknown` kinds. See the relay's docs/protocol.md.
   */
  details?: Record<string, unknown>;
  /** With the `customer_profile` feature: the customer's WeCom profile (nickname, avatar, ...), when known. */
  customer?: Record<string, unknown>;
}

/** A WeCom user is now bound to this gateway (also sent once per existing binding after every connect). */
export interface BindingResolved {
  type: 'binding_resolved';
  externalUserId: string;
  gatewayId: string;
  deliveryId?: string;
  /** With the `customer_profile` feature: the customer's WeCom profile, when known. */
  customer?: Record<string, unknown>;
}

/** The gateway has no binding (cs dialect only, after connect). */
export interface BindingCleared {
  type: 'binding_cleared';
  gatewayId: string;
}

/** WeCom reported later that a reply it had accepted was not delivered to the user. */
export interface SendFailed {
  type: 'send_failed';
  /** The request id of your reply. */
  id: string;
  externalUserId: string;
  /** WeCom's msgid of the failed message. */
  msgid: string;
  /** WeCom's fail_type (4 session expired, 6 over the 5-message limit, 10 user rejected, ...). */
  failType: number;
  reason: string;
  deliveryId?: string;
}

/** An error frame that answers no pending request of this SDK. */
export interface RelayErrorFrame {
  type: 'error';
  message: string;
  code?: string;
  id?: string;
  wecomErrcode?: number;
}

/** With `session_events`: a human servicer wrote to the customer from the WeCom client. */
export interface ServicerMessage extends Omit<InboundMessage, 'type'> {
  type: 'servicer_message';
  servicerUserId: string;
}

/** With `session_events`: the customer opened the conversation (not by a binding link). */
export interface SessionEntered {
  type: 'session_entered';
  /** WeCom's msgid of the event. */
  id: string;
  externalUserId: string;
  timestamp: number;
  scene?: string;
  sceneParam?: string;
  /** Present when a welcome may be sent: use it with `sendOnEvent` within 20 s, once. */
  welcomeCode?: string;
  /** Entered from WeChat Channels: `{nickname, shop_nickname, scene}`. */
  wechatChannels?: Record<string, unknown>;
  deliveryId?: string;
}

/** With `session_events`: a servicer took, transferred, ended or re-entered the session. */
export interface SessionStatus {
  type: 'session_status';
  id: string;
  externalUserId: string;
  timestamp: number;
  /** 1 taken from the pool, 2 transferred, 3 ended, 4 re-entered. */
  changeType: number;
  change: 'taken_from_pool' | 'transferred' | 'ended' | 'reentered' | (string & {});
  /** Whether a human now holds the session (replies are refused with SESSION_TAKEN_OVER meanwhile). */
  humanServicing: boolean;
  oldServicerUserId?: string;
  newServicerUserId?: string;
  /** For `sendOnEvent` (taken: 48 h; ended: 20 s), once. */
  msgCode?: string;
  deliveryId?: string;
}

/** With `session_events`: the customer (or a servicer) recalled a message. */
export interface MessageRecalled {
  type: 'message_recalled';
  id: string;
  externalUserId: string;
  timestamp: number;
  /** The `id` of the recalled inbound message. */
  recallMsgid: string;
  by: 'customer' | 'servicer' | (string & {});
  servicerUserId?: string;
  deliveryId?: string;
}

/** With `session_events`: a servicer switched "reject this customer's messages" on or off in the WeCom client. */
export interface CustomerRejected {
  type: 'customer_rejected';
  id: string;
  externalUserId: string;
  timestamp: number;
  /** true: WeCom refuses the customer's messages from now on; false: accepted again. */
  rejected: boolean;
  servicerUserId?: string;
  deliveryId?: string;
}

/** Events the relay delivers through the gateway's durable queue: acknowledged after your handlers finish. */
export type DeliveredEvent =
  | InboundMessage
  | BindingResolved
  | SendFailed
  | ServicerMessage
  | SessionEntered
  | SessionStatus
  | MessageRecalled
  | CustomerRejected;

/** The connection's state. */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** What a state change says. */
export interface StateChange {
  state: ConnectionState;
  /** For `reconnecting`: the delay before the next attempt. */
  delayMs?: number;
  /** For `reconnecting`/`closed`: the close code and reason of the socket that ended, or why the SDK ended it. */
  code?: number;
  reason?: string;
}
