import { fail, ok, type JsonReply } from './api-reply.js';
import type { SentMessage } from './control-types.js';
import { ERRCODE } from './errcodes.js';
import type { FakeState } from './fake-state.js';
import { str } from './http-io.js';
import { randomId } from './ids.js';
import { SEND_MSG_TYPES, SEND_ON_EVENT_TYPES, checkClientMsgid, checkOutgoing, type OutgoingMessage } from './outgoing-message.js';

const MAX_SYNC_LIMIT = 1000;
const SCENE = /^[0-9a-zA-Z_-]{0,32}$/;
/** Codes from service_state/trans: 20 s to send a closing message, 48 h for pool notices (reference §3.2). */
const END_SESSION_CODE_MS = 20_000;
const TRANS_CODE_MS = 48 * 3600 * 1000;

function checkOpenKfid(state: FakeState, body: Record<string, unknown>): JsonReply | null {
  return state.serves(str(body, 'open_kfid')) ? null : fail(ERRCODE.INVALID_OPEN_KFID, 'invalid open_kfid');
}

/** POST kf/sync_msg. */
export function syncMsg(state: FakeState, body: Record<string, unknown>): JsonReply {
  const bad = checkOpenKfid(state, body);
  if (bad) return bad;
  const openKfid = str(body, 'open_kfid') as string;
  const limit = body['limit'] ?? MAX_SYNC_LIMIT;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_SYNC_LIMIT) {
    return fail(ERRCODE.INVALID_PARAMETER, `limit must be 1-${MAX_SYNC_LIMIT}`);
  }
  const voiceFormat = body['voice_format'] ?? 0;
  if (voiceFormat !== 0 && voiceFormat !== 1) return fail(ERRCODE.INVALID_PARAMETER, 'voice_format must be 0 or 1');
  const token = body['token'];
  if (token !== undefined && token !== '') {
    if (typeof token !== 'string' || !state.callbackTokens.isValid(token, openKfid)) {
      return fail(ERRCODE.INVALID_MSG_TOKEN, 'invalid msg token');
    }
  }
  const cursor = body['cursor'];
  if (cursor !== undefined && cursor !== '' && typeof cursor !== 'string') {
    return fail(ERRCODE.INVALID_PARAMETER, 'invalid cursor');
  }
  // Each account's stream is its own: a cursor of one account read against another skips nothing of it.
  const page = state.log.page(openKfid, typeof cursor === 'string' && cursor !== '' ? cursor : null, limit);
  if (!page) return fail(ERRCODE.INVALID_PARAMETER, 'invalid cursor');
  const msgList = voiceFormat === 1 ? page.msgList.map((m) => withSilkVoice(state, m)) : page.msgList;
  return ok({ next_cursor: page.nextCursor, has_more: page.hasMore ? 1 : 0, msg_list: msgList });
}

/** A voice message as sync_msg with voice_format 1 returns it: its media_id names the SILK file. */
function withSilkVoice(state: FakeState, message: Record<string, unknown>): Record<string, unknown> {
  const voice = message['voice'];
  if (message['msgtype'] !== 'voice' || typeof voice !== 'object' || voice === null) return message;
  const mediaId = (voice as Record<string, unknown>)['media_id'];
  const silk = typeof mediaId === 'string' ? state.media.silkCopyOf(mediaId) : null;
  return silk ? { ...message, voice: { ...voice, media_id: silk } } : message;
}

function record(
  state: FakeState,
  touser: string,
  msgid: string,
  msg: OutgoingMessage,
  via: SentMessage['via'],
  body: Record<string, unknown>,
  code?: string,
  openKfid?: string,
): void {
  state.sent.record({
    msgid,
    touser,
    open_kfid: openKfid ?? str(body, 'open_kfid') ?? state.opts.openKfid,
    msgtype: msg.msgtype,
    via,
    ...(msg.content !== undefined ? { content: msg.content } : {}),
    ...(msg.media
      ? { media_id: msg.media.mediaId, media_base64: msg.media.data.toString('base64'), media_mime: msg.media.mime }
      : {}),
    ...(code !== undefined ? { code } : {}),
    sent_at: state.clock.nowSeconds(),
    body,
  });
}

/** POST kf/send_msg: checks the payload, the client msgid and the 48 h / 5-message window, then records it. */
export function sendMsg(state: FakeState, body: Record<string, unknown>): JsonReply {
  const touser = str(body, 'touser');
  if (!touser) return fail(ERRCODE.INVALID_PARAMETER, 'touser is required');
  const bad = checkOpenKfid(state, body);
  if (bad) return bad;
  const msgid = checkClientMsgid(body, (id) => state.sent.hasMsgid(id));
  if (typeof msgid === 'object') return msgid;
  const msg = checkOutgoing(body, SEND_MSG_TYPES, state.media);
  if ('errcode' in msg) return msg;
  const openKfid = str(body, 'open_kfid') as string;
  // The window is per account: a customer who only wrote to another kf account cannot be sent to from this one.
  const windowErr = state.sessions.checkSend(touser, openKfid);
  if (windowErr !== ERRCODE.OK) return fail(windowErr);
  const finalId = msgid ?? randomId(32);
  state.sessions.noteSent(touser, openKfid);
  record(state, touser, finalId, msg, 'send_msg', body);
  return ok({ msgid: finalId });
}

/** POST kf/send_msg_on_event: a welcome or session code, single use within its lifetime. */
export function sendMsgOnEvent(state: FakeState, body: Record<string, unknown>): JsonReply {
  const code = str(body, 'code');
  if (!code) return fail(ERRCODE.INVALID_PARAMETER, 'code is required');
  const msgid = checkClientMsgid(body, (id) => state.sent.hasMsgid(id));
  if (typeof msgid === 'object') return msgid;
  const msg = checkOutgoing(body, SEND_ON_EVENT_TYPES, state.media);
  if ('errcode' in msg) return msg;
  const redeemed = state.eventCodes.redeem(code);
  if (redeemed === null) return fail(ERRCODE.INVALID_EVENT_CODE, 'invalid code');
  const finalId = msgid ?? randomId(32);
  record(state, redeemed.externalUserid, finalId, msg, 'send_msg_on_event', body, code, redeemed.openKfid);
  return ok({ msgid: finalId });
}

/** POST kf/add_contact_way: a URL the fake remembers with its scene, so a scan can tell an issued link from any other. */
export function addContactWay(state: FakeState, body: Record<string, unknown>): JsonReply {
  const bad = checkOpenKfid(state, body);
  if (bad) return bad;
  const scene = body['scene'] ?? '';
  if (typeof scene !== 'string' || !SCENE.test(scene)) {
    return fail(ERRCODE.INVALID_PARAMETER, 'scene must be at most 32 of [0-9a-zA-Z_-]');
  }
  return ok({ url: state.contactWays.issue(scene, str(body, 'open_kfid') as string) });
}

/** POST kf/service_state/trans: moves a customer's session; answers a msg_code for send_msg_on_event. */
export function transServiceState(state: FakeState, body: Record<string, unknown>): JsonReply {
  const bad = checkOpenKfid(state, body);
  if (bad) return bad;
  const externalUserid = str(body, 'external_userid');
  if (!externalUserid) return fail(ERRCODE.INVALID_PARAMETER, 'external_userid is required');
  const serviceState = body['service_state'];
  if (typeof serviceState !== 'number' || !Number.isInteger(serviceState) || serviceState < 0 || serviceState > 4) {
    return fail(ERRCODE.INVALID_PARAMETER, 'service_state must be 0-4');
  }
  const servicer = str(body, 'servicer_userid');
  if (serviceState === 3 && !servicer) return fail(ERRCODE.INVALID_PARAMETER, 'servicer_userid is required for state 3');
  const err = state.sessions.trans(externalUserid, serviceState, servicer, str(body, 'open_kfid'));
  if (err !== ERRCODE.OK) return fail(err);
  const msgCode = randomId(43);
  state.eventCodes.register(msgCode, externalUserid, serviceState === 4 ? END_SESSION_CODE_MS : TRANS_CODE_MS, str(body, 'open_kfid'));
  return ok({ msg_code: msgCode });
}
