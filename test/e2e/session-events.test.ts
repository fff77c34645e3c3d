import { describe, expect, it } from 'vitest';
import type { GatewayClient, WireFrame } from '@wecom-relay/gateway-client';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack, type RelayStack } from './support/relay-stack.js';
import { sample, scrape } from './support/metric-sample.js';

const stack = useRelayStack();

const ofType = (type: string, id?: string) => (f: WireFrame) => f.type === type && (id === undefined || f.id === id);

/** A gateway (features as given) with a bound customer who has written once, so the send window is open. */
async function conversation(s: RelayStack, features: string[] = []) {
  const gw = await s.gateway({ features });
  const user = newUserId();
  await bindByScan(s, gw, user);
  const first = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'hello' });
  await gw.waitFor(ofType('inbound', first.msgid));
  return { gw, user, mark: gw.received.length };
}

/** Everything the gateway got after `mark`, once a customer message sent now has arrived (so earlier events would have too). */
async function framesUntilMarker(s: RelayStack, gw: GatewayClient, user: string, mark: number): Promise<WireFrame[]> {
  const marker = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'marker' });
  await gw.waitFor(ofType('inbound', marker.msgid));
  return gw.received.slice(mark).filter((f) => f.type !== 'ack');
}

describe('session_events: what happens around the conversation reaches the gateway', () => {
  it('enter_session without a binding token arrives as session_entered with scene, welcome_code and channels context', async () => {
    const s = stack();
    const { gw, user } = await conversation(s, ['session_events']);
    const ev = await s.fake.control.event({
      event_type: 'enter_session',
      external_userid: user,
      scene: 'shop',
      scene_param: 'from%3Dad',
      welcome_code: 'WELCOME',
      wechat_channels: { nickname: 'Tea Channel', scene: 1 },
    });
    expect(await gw.waitFor(ofType('session_entered', ev.msgid))).toEqual({
      type: 'session_entered',
      id: ev.msgid,
      external_user_id: user,
      timestamp: ev.message.send_time,
      scene: 'shop',
      scene_param: 'from%3Dad',
      welcome_code: 'WELCOME',
      wechat_channels: { nickname: 'Tea Channel', scene: 1 },
    });
  });

  it('a servicer taking the session is announced, and a reply is then refused as SESSION_TAKEN_OVER with the reason', async () => {
    const s = stack();
    const { gw, user } = await conversation(s, ['session_events']);
    const change = await s.fake.control.sessionChange({ external_userid: user, change_type: 1, servicer_userid: 'agent-li' });
    expect(await gw.waitFor(ofType('session_status', change.msgid))).toMatchObject({
      external_user_id: user,
      change_type: 1,
      change: 'taken_from_pool',
      human_servicing: true,
      new_servicer_userid: 'agent-li',
    });

    const err = (await gw.reply(user, 'bot answer', 'after-takeover').catch((e: unknown) => e)) as { frame?: WireFrame };
    expect(err.frame).toMatchObject({ type: 'error', id: 'after-takeover', code: 'SESSION_TAKEN_OVER', wecom_errcode: 95018 });
    expect(String(err.frame?.message)).toMatch(/human servicer has taken it/);
    expect((await s.fake.control.sent()).some((m) => m.touser === user && m.content === 'bot answer')).toBe(false);

    // The servicer ends it: the session is nobody's.
    const ended = await s.fake.control.sessionChange({ external_userid: user, change_type: 3 });
    expect(await gw.waitFor(ofType('session_status', ended.msgid))).toMatchObject({
      change_type: 3,
      change: 'ended',
      human_servicing: false,
      old_servicer_userid: 'agent-li',
    });
  });

  it("a servicer's own words arrive as servicer_message (never as inbound); a customer's recall as message_recalled", async () => {
    const s = stack();
    const { gw, user, mark } = await conversation(s, ['session_events']);
    const said = await s.fake.control.servicerMessage({ external_userid: user, servicer_userid: 'agent-li', content: 'I can help' });
    expect(await gw.waitFor(ofType('servicer_message', said.msgid))).toMatchObject({
      external_user_id: user,
      servicer_userid: 'agent-li',
      msg_type: 'text',
      content: 'I can help',
      text: { content: 'I can help' },
      timestamp: said.message.send_time,
    });

    const oops = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'wrong chat' });
    await gw.waitFor(ofType('inbound', oops.msgid));
    const recall = await s.fake.control.recall({ external_userid: user, recall_msgid: oops.msgid });
    expect(await gw.waitFor(ofType('message_recalled', recall.msgid))).toEqual({
      type: 'message_recalled',
      id: recall.msgid,
      external_user_id: user,
      timestamp: recall.message.send_time,
      recall_msgid: oops.msgid,
      by: 'customer',
    });
    const unsaid = await s.fake.control.event({
      event_type: 'servicer_recall_msg',
      external_userid: user,
      servicer_userid: 'agent-li',
      recall_msgid: said.msgid,
    });
    expect(await gw.waitFor(ofType('message_recalled', unsaid.msgid))).toMatchObject({
      recall_msgid: said.msgid,
      by: 'servicer',
      servicer_userid: 'agent-li',
    });
    const frames = await framesUntilMarker(s, gw, user, mark);
    expect(frames.filter((f) => f.type === 'inbound').map((f) => f.content)).toEqual(['wrong chat', 'marker']);
  });

  it("a servicer rejecting the customer's messages, and accepting them again, arrives as customer_rejected", async () => {
    const s = stack();
    const { gw, user, mark } = await conversation(s, ['session_events']);
    const on = await s.fake.control.rejectSwitch({ external_userid: user, servicer_userid: 'agent-li', reject: true });
    expect(await gw.waitFor(ofType('customer_rejected', on.msgid))).toEqual({
      type: 'customer_rejected',
      id: on.msgid,
      external_user_id: user,
      timestamp: on.message.send_time,
      servicer_userid: 'agent-li',
      rejected: true,
    });
    const off = await s.fake.control.rejectSwitch({ external_userid: user, servicer_userid: 'agent-wu', reject: false });
    expect(await gw.waitFor(ofType('customer_rejected', off.msgid))).toMatchObject({ servicer_userid: 'agent-wu', rejected: false });
    const frames = await framesUntilMarker(s, gw, user, mark);
    expect(frames.map((f) => [f.type, f.id])).toEqual([
      ['customer_rejected', on.msgid],
      ['customer_rejected', off.msgid],
      ['inbound', expect.any(String)],
    ]);
  });

  it("a servicer going off duty names no customer: no gateway gets a frame, the node counts it by status", async () => {
    const s = stack();
    const { gw, user, mark } = await conversation(s, ['session_events']);
    const labels = { status: '2', stop_type: '1' };
    const before = sample(await scrape(s.relay.metricsUrl), 'relay_servicer_status_changes_total', labels) ?? 0;
    await s.fake.control.servicerStatus({ servicer_userid: 'agent-li', status: 2, stop_type: 1 });
    const frames = await framesUntilMarker(s, gw, user, mark);
    expect(frames.map((f) => f.type)).toEqual(['inbound']);
    // The marker was pulled after the status event, so the count is already in.
    expect(sample(await scrape(s.relay.metricsUrl), 'relay_servicer_status_changes_total', labels)).toBe(before + 1);
  });

  it('a deployed gateway sees none of it, and a reply refused by a takeover reads as before (SEND_WINDOW_CLOSED)', async () => {
    const s = stack();
    const { gw, user, mark } = await conversation(s);
    await s.fake.control.event({ event_type: 'enter_session', external_userid: user, scene: 'shop', welcome_code: 'W' });
    await s.fake.control.servicerMessage({ external_userid: user, servicer_userid: 'agent-li', content: 'human here' });
    const oops = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'oops' });
    await s.fake.control.recall({ external_userid: user, recall_msgid: oops.msgid });
    await s.fake.control.rejectSwitch({ external_userid: user, servicer_userid: 'agent-li', reject: true });
    await s.fake.control.rejectSwitch({ external_userid: user, servicer_userid: 'agent-li', reject: false });
    await s.fake.control.servicerStatus({ servicer_userid: 'agent-li', status: 1 });
    await s.fake.control.sessionChange({ external_userid: user, change_type: 1, servicer_userid: 'agent-li' });

    const frames = await framesUntilMarker(s, gw, user, mark);
    expect(frames.map((f) => [f.type, f.content])).toEqual([
      ['inbound', 'oops'],
      ['inbound', 'marker'],
    ]);
    const err = (await gw.reply(user, 'bot answer', 'old-1').catch((e: unknown) => e)) as { frame?: WireFrame };
    expect(err.frame).toMatchObject({ type: 'error', id: 'old-1', code: 'SEND_WINDOW_CLOSED', wecom_errcode: 95018 });
  });
});
