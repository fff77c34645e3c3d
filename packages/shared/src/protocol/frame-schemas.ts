import { z } from 'zod';

/** Longest id (request id, gateway id, user id, delivery id) a gateway may send, in characters. */
export const MAX_ID_LENGTH = 256;

/** WeCom's kf/send_msg text limit, in UTF-8 bytes (reference §3.1). */
export const MAX_TEXT_CONTENT_BYTES = 2048;

/**
 * Longest reply a gateway may send, in UTF-8 bytes: the relay splits a longer reply into parts of at most
 * MAX_TEXT_CONTENT_BYTES, and WeCom's window lets at most 5 messages follow each customer message.
 */
export const MAX_REPLY_CONTENT_BYTES = 5 * MAX_TEXT_CONTENT_BYTES;

/** Longest auth_token accepted; our HMAC tokens are 64 hex chars, the headroom is for older shared-secret gateways. */
export const MAX_AUTH_TOKEN_LENGTH = 1024;

/** Standard or URL-safe base64, padding optional: Node's decoder takes all of these. */
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** A string field whose error messages read well after the field name ("gateway_id is required"). */
function str() {
  return z.string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') });
}

function id() {
  return str().min(1, 'must not be empty').max(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`);
}

/**
 * Incoming frame bodies, keyed by plain-dialect field names (the codec renames `customer_id` first for the cs dialect).
 * Optional fields also accept null, since some JSON encoders write absent values that way. Unknown fields are stripped.
 */
export const helloFrameSchema = z.object({
  gateway_id: id(),
  auth_token: str().min(1, 'must not be empty').max(MAX_AUTH_TOKEN_LENGTH, `must be at most ${MAX_AUTH_TOKEN_LENGTH} characters`),
  delivery: z.enum(['ack', 'legacy'], { error: 'must be "ack" or "legacy"' }).nullish(),
  resume_after: id().nullish(),
  // Unknown feature names are ignored (a newer gateway may know more than this relay), not refused.
  features: z.array(z.string().max(64)).max(32).nullish(),
});

/** `reply` / `cs_reply`; the byte cap on content is checked by the codec so it can answer CONTENT_TOO_LONG. */
export const replyFrameSchema = z.object({
  id: id(),
  external_user_id: id(),
  content: str().min(1, 'must not be empty'),
});

/** `image_reply` / `cs_image_reply`. */
export const imageReplyFrameSchema = z.object({
  id: id(),
  external_user_id: id(),
  image_data: str().min(1, 'must not be empty').regex(BASE64, 'must be base64'),
  image_mime: str().min(1, 'must not be empty').max(128, 'must be at most 128 characters'),
});

/** `create_binding` / `cs_create_binding`. */
export const createBindingFrameSchema = z.object({
  gateway_id: id(),
  /** Additive: which kf account's link; absent or null, the relay's first account. */
  open_kfid: id().nullish(),
});

/** `unbind_all` / `cs_unbind_all`. */
export const unbindAllFrameSchema = z.object({ gateway_id: id() });

/** `delivery_ack` / `cs_delivery_ack` (additive). */
export const deliveryAckFrameSchema = z.object({ delivery_id: id() });

/** The `platform` field cs frames may carry: absent or "wecom". */
export const csPlatformSchema = z.literal('wecom', { error: 'must be "wecom"' }).nullish();
