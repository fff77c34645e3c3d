/**
 * The gateway wire format, written out by hand for both dialects. Deliberately independent of the relay's own codec:
 * tests that drive a relay through this client prove the relay speaks what deployed gateways send and expect.
 */

/** Wire dialect: `plain` names (dialect 1) or `cs_` names with `customer_id` (dialect 2). */
export type WireDialect = 'plain' | 'cs';

/** Delivery mode a gateway asks for in hello; `legacy` sends no `delivery` field at all, like deployed gateways. */
export type WireDelivery = 'legacy' | 'ack';

/** One JSON frame as it travelled on the socket. */
export type WireFrame = Record<string, unknown> & { type: string };

/** The platform tag dialect 2 frames carry. */
export const CS_PLATFORM = 'wecom';

/** Frame type for a base name in a dialect (`reply` → `cs_reply`). */
export function frameType(dialect: WireDialect, base: string): string {
  return dialect === 'cs' ? `cs_${base}` : base;
}

/** Base name of a frame type in either dialect (`cs_inbound` → `inbound`). */
export function baseType(type: string): string {
  return type.startsWith('cs_') ? type.slice(3) : type;
}

/** Name of the user field in a dialect. */
export function userField(dialect: WireDialect): 'external_user_id' | 'customer_id' {
  return dialect === 'cs' ? 'customer_id' : 'external_user_id';
}

/** The hello frame; delivery fields are additive and only sent when acknowledged delivery is wanted. */
export function helloFrame(
  dialect: WireDialect,
  gatewayId: string,
  authToken: string,
  delivery: WireDelivery,
  resumeAfter: string | undefined,
  features: readonly string[] = [],
): WireFrame {
  const frame: WireFrame = { type: frameType(dialect, 'hello'), gateway_id: gatewayId, auth_token: authToken };
  if (delivery === 'ack') {
    frame.delivery = 'ack';
    if (resumeAfter !== undefined) frame.resume_after = resumeAfter;
  }
  if (features.length > 0) frame.features = [...features];
  return frame;
}

/** The id the relay's ack to hello carries (`hello` / `cs_hello`). */
export function helloAckId(dialect: WireDialect): string {
  return frameType(dialect, 'hello');
}

/** The id the relay's ack to unbind_all carries (`unbind_all` / `cs_unbind_all`). */
export function unbindAckId(dialect: WireDialect): string {
  return frameType(dialect, 'unbind_all');
}

/** A text reply. */
export function replyFrame(dialect: WireDialect, id: string, user: string, content: string): WireFrame {
  const frame: WireFrame = { type: frameType(dialect, 'reply'), id, [userField(dialect)]: user, content };
  if (dialect === 'cs') frame.platform = CS_PLATFORM;
  return frame;
}

/** An image reply; the image travels as base64. */
export function imageReplyFrame(
  dialect: WireDialect,
  id: string,
  user: string,
  imageBase64: string,
  mime: string,
): WireFrame {
  const frame: WireFrame = {
    type: frameType(dialect, 'image_reply'),
    id,
    [userField(dialect)]: user,
    image_data: imageBase64,
    image_mime: mime,
  };
  if (dialect === 'cs') frame.platform = CS_PLATFORM;
  return frame;
}

/** Asks for a binding QR link. */
export function createBindingFrame(dialect: WireDialect, gatewayId: string, openKfid?: string): WireFrame {
  const frame: WireFrame = { type: frameType(dialect, 'create_binding'), gateway_id: gatewayId };
  // Additive: a relay serving several kf accounts makes the link for this one (older relays ignore the field).
  if (openKfid !== undefined) frame.open_kfid = openKfid;
  if (dialect === 'cs') frame.platform = CS_PLATFORM;
  return frame;
}

/** Removes every binding of the gateway. */
export function unbindAllFrame(dialect: WireDialect, gatewayId: string): WireFrame {
  return { type: frameType(dialect, 'unbind_all'), gateway_id: gatewayId };
}

/** Confirms a delivery in acknowledged mode. */
export function deliveryAckFrame(dialect: WireDialect, deliveryId: string): WireFrame {
  return { type: frameType(dialect, 'delivery_ack'), delivery_id: deliveryId };
}

/** An inbound customer message with dialect differences removed; `raw` keeps the frame as received. */
export interface InboundMessage {
  id: string;
  externalUserId: string;
  msgType: string;
  content: string;
  timestamp: number;
  mediaData?: string;
  mediaMime?: string;
  /** `media_by_reference`: where to fetch the media instead, and until when (unix s). */
  mediaUrl?: string;
  mediaUrlExpiresAt?: number;
  deliveryId?: string;
  raw: WireFrame;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Normalizes an `inbound`/`cs_inbound` frame; fields the relay left out come back empty so assertions show them. */
export function normalizeInbound(frame: WireFrame): InboundMessage {
  const user = frame.type.startsWith('cs_') ? frame.customer_id : frame.external_user_id;
  const message: InboundMessage = {
    id: String(frame.id ?? ''),
    externalUserId: String(user ?? ''),
    msgType: String(frame.msg_type ?? ''),
    content: String(frame.content ?? ''),
    timestamp: typeof frame.timestamp === 'number' ? frame.timestamp : Number.NaN,
    raw: frame,
  };
  const mediaData = optionalString(frame.media_data);
  const mediaMime = optionalString(frame.media_mime);
  const deliveryId = optionalString(frame.delivery_id);
  if (mediaData !== undefined) message.mediaData = mediaData;
  if (mediaMime !== undefined) message.mediaMime = mediaMime;
  if (deliveryId !== undefined) message.deliveryId = deliveryId;
  const mediaUrl = optionalString(frame.media_url);
  if (mediaUrl !== undefined) message.mediaUrl = mediaUrl;
  if (typeof frame.media_url_expires_at === 'number') message.mediaUrlExpiresAt = frame.media_url_expires_at;
  return message;
}

/** The WeCom user a `binding_resolved`/`cs_binding_resolved` frame names. */
export function resolvedUser(frame: WireFrame): string {
  return String((frame.type.startsWith('cs_') ? frame.customer_id : frame.external_user_id) ?? '');
}
