import type { AppendResult, RecallInput, RejectSwitchInput, ServicerStatusInput, SessionChangeInput } from './control-types.js';
import { ControlError, requireString } from './control-error.js';
import type { FakeState } from './fake-state.js';
import { randomId } from './ids.js';
import { systemEvent } from './wecom-users.js';

/** UNCONFIRMED: WeCom lets a WeChat user recall a message within 2 minutes (WeChat's own rule); the fake enforces it. */
const RECALL_WINDOW_S = 120;

/**
 * A servicer acts on a customer's session in the WeCom client (session_status_change, reference §2.2): 1 takes it
 * from the pool, 2 transfers it, 4 re-enters an ended one (a human then holds it: state 3, and send_msg answers
 * 95018), 3 ends it (state 4).
 */
export async function sessionChange(state: FakeState, input: SessionChangeInput): Promise<AppendResult> {
  const user = requireString(input, 'external_userid');
  const changeType = Number(input.change_type ?? 1);
  if (![1, 2, 3, 4].includes(changeType)) throw new ControlError('CONTROL_BAD_REQUEST', 'change_type must be 1, 2, 3 or 4');
  const openKfid = state.account(input.open_kfid);
  const before = state.sessions.all().find((s) => s.external_userid === user && s.open_kfid === openKfid);
  if (!before) throw new ControlError('CONTROL_BAD_REQUEST', `no session with ${user}`);
  const servicer = typeof input.servicer_userid === 'string' ? input.servicer_userid : undefined;
  if (changeType !== 3 && !servicer) throw new ControlError('CONTROL_BAD_REQUEST', 'servicer_userid is required');
  state.sessions.trans(user, changeType === 3 ? 4 : 3, servicer, openKfid);
  const fields: Record<string, unknown> = { event_type: 'session_status_change', external_userid: user, change_type: changeType };
  if (changeType !== 1 && before.servicer_userid) fields.old_servicer_userid = before.servicer_userid;
  if (changeType !== 3) fields.new_servicer_userid = servicer;
  // systemEvent registers the code it announces (redeemable once, 48 h after a take, 20 s after an end).
  if (changeType === 1 || changeType === 3) fields.msg_code = randomId(43);
  return systemEvent(state, { ...fields, event_type: 'session_status_change', open_kfid: openKfid, deliver: input.deliver });
}

/** The customer recalls one of their messages (user_recall_msg). */
export async function customerRecall(state: FakeState, input: RecallInput): Promise<AppendResult> {
  const user = requireString(input, 'external_userid');
  const recallMsgid = requireString(input, 'recall_msgid');
  const original = state.log.all().find((m) => m.msgid === recallMsgid);
  if (!original || original['external_userid'] !== user || original.origin !== 3) {
    throw new ControlError('CONTROL_BAD_REQUEST', `${user} wrote no message ${recallMsgid}`);
  }
  if (state.clock.nowSeconds() - original.send_time > RECALL_WINDOW_S) {
    throw new ControlError('CONTROL_BAD_REQUEST', `a message may be recalled within ${RECALL_WINDOW_S} s`);
  }
  return systemEvent(state, {
    event_type: 'user_recall_msg',
    external_userid: user,
    recall_msgid: recallMsgid,
    open_kfid: original['open_kfid'],
    deliver: input.deliver,
  });
}

/**
 * A servicer rejects (or accepts again) the customer's messages in the WeCom client
 * (reject_customer_msg_switch_change). Only a customer with a session can be rejected.
 */
export async function rejectSwitch(state: FakeState, input: RejectSwitchInput): Promise<AppendResult> {
  const user = requireString(input, 'external_userid');
  const servicer = requireString(input, 'servicer_userid');
  if (typeof input.reject !== 'boolean') throw new ControlError('CONTROL_BAD_REQUEST', 'reject must be true or false');
  const openKfid = state.account(input.open_kfid);
  if (!state.sessions.all().some((s) => s.external_userid === user && s.open_kfid === openKfid)) {
    throw new ControlError('CONTROL_BAD_REQUEST', `no session with ${user}`);
  }
  return systemEvent(state, {
    event_type: 'reject_customer_msg_switch_change',
    servicer_userid: servicer,
    external_userid: user,
    reject_switch: input.reject ? 1 : 0,
    open_kfid: openKfid,
    deliver: input.deliver,
  });
}

/** A servicer goes on or off duty (servicer_status_change: status 1 receiving, 2 stopped; stop_type 0/1 with 2). */
export async function servicerStatus(state: FakeState, input: ServicerStatusInput): Promise<AppendResult> {
  const servicer = requireString(input, 'servicer_userid');
  const status = Number(input.status);
  if (status !== 1 && status !== 2) throw new ControlError('CONTROL_BAD_REQUEST', 'status must be 1 or 2');
  const fields: Record<string, unknown> = { event_type: 'servicer_status_change', servicer_userid: servicer, status };
  if (status === 2) fields.stop_type = Number(input.stop_type ?? 0);
  return systemEvent(state, { ...fields, event_type: 'servicer_status_change', open_kfid: state.account(input.open_kfid), deliver: input.deliver });
}
