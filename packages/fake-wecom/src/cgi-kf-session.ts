import { fail, ok, type JsonReply } from './api-reply.js';
import { ERRCODE } from './errcodes.js';
import type { FakeState } from './fake-state.js';
import { str } from './http-io.js';

/** UNCONFIRMED: WeCom allows recalling a kf message within 2 minutes of sending it (the WeChat rule). */
const RECALL_WINDOW_S = 120;

/** POST kf/recall_msg {open_kfid, msgid}: only a message the API sent, within 2 minutes, once. */
export function recallMsg(state: FakeState, body: Record<string, unknown>): JsonReply {
  if (!state.serves(str(body, 'open_kfid'))) return fail(ERRCODE.INVALID_OPEN_KFID, 'invalid open_kfid');
  const msgid = str(body, 'msgid');
  if (!msgid) return fail(ERRCODE.INVALID_PARAMETER, 'msgid is required');
  const sent = state.sent.find(msgid);
  if (!sent) return fail(ERRCODE.INVALID_PARAMETER, 'invalid msgid');
  if (sent.recalled || state.clock.nowSeconds() - sent.sent_at > RECALL_WINDOW_S) {
    return fail(ERRCODE.RECALL_NOT_ALLOWED, 'message can not be recalled');
  }
  sent.recalled = true;
  return ok({});
}

/**
 * POST kf/service_state/get {open_kfid, external_userid}: the session's state and its servicer. The field name
 * `servicer_userid` is UNCONFIRMED (one SDK reads `service_userid`); the relay reads either.
 */
export function getServiceState(state: FakeState, body: Record<string, unknown>): JsonReply {
  const openKfid = str(body, 'open_kfid');
  if (!state.serves(openKfid)) return fail(ERRCODE.INVALID_OPEN_KFID, 'invalid open_kfid');
  const user = str(body, 'external_userid');
  if (!user) return fail(ERRCODE.INVALID_PARAMETER, 'external_userid is required');
  const session = state.sessions.all().find((s) => s.external_userid === user && s.open_kfid === openKfid);
  // A customer who never wrote has a session that has not started (4).
  if (!session) return ok({ service_state: 4 });
  return ok({ service_state: session.service_state, ...(session.servicer_userid ? { servicer_userid: session.servicer_userid } : {}) });
}
