import { z } from 'zod';
import { MAX_ID_LENGTH, MAX_TEXT_CONTENT_BYTES } from './frame-schemas.js';

/**
 * The `rich_outbound` commands' frames (plain field names; the codec renames cs `customer_id` first). A `send` body
 * is WeCom's kf/send_msg body for its msgtype (reference §3.1) with media given as bytes instead of media ids; each
 * limit is WeCom's, and a breach names it.
 */

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

function str() {
  return z.string({ error: (iss) => (iss.input === undefined ? 'is required' : 'must be a string') });
}

function id() {
  return str().min(1, 'must not be empty').max(MAX_ID_LENGTH, `must be at most ${MAX_ID_LENGTH} characters`);
}

/** A string of `min`..`max` UTF-8 bytes; the message names WeCom's limit. */
function bytes(max: number, min = 0) {
  return str().refine((s) => {
    const n = Buffer.byteLength(s, 'utf8');
    return n >= min && n <= max;
  }, min > 0 ? `must be ${min}-${max} UTF-8 bytes (WeCom's limit)` : `must be at most ${max} UTF-8 bytes (WeCom's limit)`);
}

function httpUrl(max: number) {
  return bytes(max, 1).refine((s) => /^https?:\/\//i.test(s), 'must be an http(s) URL (WeCom\'s rule)');
}

/**
 * Media in a frame: its bytes (base64) or a URL the relay fetches them from, the mime type, and the file name the
 * customer sees.
 */
export const mediaFieldsSchema = z
  .object({
    media_data: str().min(1, 'must not be empty').regex(BASE64, 'must be base64').nullish(),
    media_url: httpUrl(2048).nullish(),
    media_mime: str().max(128, 'must be at most 128 characters').nullish(),
    filename: str().min(1, 'must not be empty').max(128, 'must be at most 128 characters').nullish(),
  })
  .refine((m) => (m.media_data == null) !== (m.media_url == null), { message: 'needs exactly one of media_data and media_url', path: ['media_data'] });

/** A thumbnail (link, miniprogram): uploaded as an image, 2 MB, JPG or PNG. */
const thumbFields = {
  thumb_data: str().min(1, 'must not be empty').regex(BASE64, 'must be base64'),
  thumb_mime: str().max(128, 'must be at most 128 characters').nullish(),
};

const menuItemSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('click'), click: z.object({ id: bytes(64, 1), content: bytes(128, 1) }) }),
  z.object({ type: z.literal('view'), view: z.object({ url: httpUrl(2048), content: bytes(1024, 1) }) }),
  z.object({
    type: z.literal('miniprogram'),
    miniprogram: z.object({ appid: bytes(32, 1), pagepath: bytes(1024, 1), content: bytes(1024, 1) }),
  }),
], { error: 'type must be "click", "view" or "miniprogram"' });

/** WeCom's msgtype payloads as a gateway writes them. */
export const sendPayloadSchemas = {
  text: z.object({ content: bytes(MAX_TEXT_CONTENT_BYTES, 1) }),
  image: mediaFieldsSchema,
  voice: mediaFieldsSchema,
  video: mediaFieldsSchema,
  file: mediaFieldsSchema,
  link: z.object({ title: bytes(128, 1), desc: bytes(512).nullish(), url: httpUrl(2048), ...thumbFields }),
  miniprogram: z.object({ appid: bytes(32, 1), title: bytes(64).nullish(), pagepath: bytes(1024, 1), ...thumbFields }),
  msgmenu: z.object({
    head_content: bytes(1024).nullish(),
    list: z.array(menuItemSchema).max(10, "must have at most 10 items (WeCom's limit)").nullish(),
    tail_content: bytes(1024).nullish(),
  }),
  location: z.object({
    latitude: z.number({ error: 'must be a number' }).min(-90, 'must be -90..90').max(90, 'must be -90..90'),
    longitude: z.number({ error: 'must be a number' }).min(-180, 'must be -180..180').max(180, 'must be -180..180'),
    name: bytes(1024).nullish(),
    address: bytes(1024).nullish(),
  }),
} as const;

/** msgtypes a `send` may carry. */
export type SendMsgType = keyof typeof sendPayloadSchemas;

/** `send` / `cs_send`: `{id, external_user_id, msgtype, <msgtype>: {...}}`. */
export const sendFrameSchema = z.object({
  id: id(),
  external_user_id: id(),
  msgtype: z.enum(Object.keys(sendPayloadSchemas) as [SendMsgType, ...SendMsgType[]], {
    error: `must be one of ${Object.keys(sendPayloadSchemas).join(', ')}`,
  }),
});

/** msgtypes kf/send_msg_on_event takes (reference §3.2). */
export const SEND_ON_EVENT_MSGTYPES = ['text', 'msgmenu'] as const;

/** `send_on_event` / `cs_send_on_event`: a text or menu sent with an event's code (welcome_code, msg_code). */
export const sendOnEventFrameSchema = z.object({
  id: id(),
  external_user_id: id(),
  code: bytes(128, 1),
  msgtype: z.enum(SEND_ON_EVENT_MSGTYPES, { error: 'must be "text" or "msgmenu" (all WeCom sends with an event code)' }),
});

/** `recall` / `cs_recall`: withdraw a message this gateway sent (WeCom's msgid from its ack). */
export const recallFrameSchema = z.object({ id: id(), msgid: id() });

/** `service_state` / `cs_service_state`: read the session's state, or move it when `service_state` is given. */
export const serviceStateFrameSchema = z.object({
  id: id(),
  external_user_id: id(),
  service_state: z.number({ error: 'must be a number' }).int('must be an integer').min(0, 'must be 0-4').max(4, 'must be 0-4').nullish(),
  servicer_userid: id().nullish(),
});
