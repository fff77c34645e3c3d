import type { JsonReply } from './api-reply.js';
import { fail } from './api-reply.js';
import { ERRCODE } from './errcodes.js';
import { obj, str } from './http-io.js';
import type { MediaStore, StoredMedia } from './media-store.js';
import { checkStructured } from './outgoing-limits.js';

/** msgtypes kf/send_msg accepts (reference §3.1). */
export const SEND_MSG_TYPES = new Set([
  'text',
  'image',
  'voice',
  'video',
  'file',
  'link',
  'miniprogram',
  'msgmenu',
  'location',
  'ca_link',
]);

/** msgtypes kf/send_msg_on_event accepts (reference §3.2). */
export const SEND_ON_EVENT_TYPES = new Set(['text', 'msgmenu']);

const MEDIA_TYPES = new Set(['image', 'voice', 'video', 'file']);
const MAX_TEXT_BYTES = 2048;
const CLIENT_MSGID = /^[0-9a-zA-Z_-]{1,32}$/;

/** A checked outgoing message. */
export interface OutgoingMessage {
  msgtype: string;
  content?: string;
  media?: StoredMedia;
}

/** Checks the msgtype payload of a send body; an error reply or the message. */
export function checkOutgoing(
  body: Record<string, unknown>,
  allowed: ReadonlySet<string>,
  media: MediaStore,
): JsonReply | OutgoingMessage {
  const msgtype = str(body, 'msgtype');
  if (!msgtype) return fail(ERRCODE.INVALID_PARAMETER, 'msgtype is required');
  if (!allowed.has(msgtype)) return fail(ERRCODE.INVALID_MSGTYPE, `invalid msgtype ${msgtype}`);
  const payload = obj(body, msgtype);
  if (!payload) return fail(ERRCODE.INVALID_PARAMETER, `${msgtype} object is required`);
  if (msgtype === 'text') {
    const content = str(payload, 'content');
    if (!content) return fail(ERRCODE.EMPTY_TEXT, 'empty content');
    if (Buffer.byteLength(content, 'utf8') > MAX_TEXT_BYTES) {
      return fail(ERRCODE.CONTENT_TOO_LONG, `content exceeds ${MAX_TEXT_BYTES} bytes`);
    }
    return { msgtype, content };
  }
  if (MEDIA_TYPES.has(msgtype)) {
    const mediaId = str(payload, 'media_id');
    const stored = mediaId ? media.get(mediaId) : null;
    if (!stored) return fail(ERRCODE.INVALID_MEDIA_ID, 'invalid media_id');
    if (stored.type !== msgtype) return fail(ERRCODE.INVALID_MEDIA_ID, `media_id is a ${stored.type}, not a ${msgtype}`);
    return { msgtype, media: stored };
  }
  return checkStructured(msgtype, payload) ?? { msgtype };
}

/** Checks an optional client msgid; an error reply, or the msgid (undefined when none was given). */
export function checkClientMsgid(body: Record<string, unknown>, used: (msgid: string) => boolean): JsonReply | string | undefined {
  const msgid = body['msgid'];
  if (msgid === undefined || msgid === '') return undefined;
  if (typeof msgid !== 'string' || !CLIENT_MSGID.test(msgid)) {
    return fail(ERRCODE.INVALID_PARAMETER, 'msgid must be 1-32 of [0-9a-zA-Z_-]');
  }
  if (used(msgid)) return fail(ERRCODE.DUPLICATE_MSGID, 'msgid already used on this kf account');
  return msgid;
}
