import { describe, expect, it } from 'vitest';
import type { GatewayClient, WireFrame } from '@wecom-relay/gateway-client';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, uid, useRelayStack, type RelayStack } from './support/relay-stack.js';

const stack = useRelayStack();

const refusal = (p: Promise<WireFrame>) => p.then(() => null, (e: { frame?: WireFrame }) => e.frame ?? null);

/**
 * A bound customer who opens the conversation again without writing: WeCom's enter_session carries a welcome_code
 * (the fake makes every code it announces redeemable once, for 20 s).
 */
async function customerReturns(s: RelayStack, features = ['rich_outbound', 'session_events']) {
  const gw = await s.gateway({ features });
  const user = newUserId();
  await bindByScan(s, gw, user);
  const welcomeCode = uid('welcome').replace(/-/g, '');
  const ev = await s.fake.control.event({ event_type: 'enter_session', external_userid: user, scene: 'ad', welcome_code: welcomeCode });
  return { gw, user, welcomeCode, eventId: ev.msgid };
}

async function sentWith(s: RelayStack, code: string) {
  return (await s.fake.control.sent()).filter((m) => m.via === 'send_msg_on_event' && m.code === code);
}

describe('send_on_event: welcome and menu messages with an event code', () => {
  it('a welcome text with the welcome_code of session_entered reaches WeCom through send_msg_on_event, once', async () => {
    const s = stack();
    const { gw, user, welcomeCode, eventId } = await customerReturns(s);
    const entered = await gw.waitFor((f) => f.type === 'session_entered' && f.id === eventId);
    expect(entered.welcome_code).toBe(welcomeCode);

    const ack = await gw.sendOnEvent(user, String(entered.welcome_code), 'text', { content: 'Welcome back! How can we help?' });
    expect(ack).toMatchObject({ type: 'ack', msgid: expect.any(String) });
    const sent = await sentWith(s, welcomeCode);
    expect(sent).toEqual([expect.objectContaining({ touser: user, msgtype: 'text', content: 'Welcome back! How can we help?', msgid: ack.msgid })]);

    // WeCom's rule: a code works once. The relay passes WeCom's refusal on with its errcode.
    const again = await refusal(gw.sendOnEvent(user, welcomeCode, 'text', { content: 'twice?' }));
    expect(again).toMatchObject({ type: 'error', code: 'WECOM_API_ERROR', wecom_errcode: 40029 });
    expect(await sentWith(s, welcomeCode)).toHaveLength(1);
  });

  it('a welcome menu goes as msgmenu; a welcome_code older than 20 s is refused by WeCom', async () => {
    const s = stack();
    const { gw, user, welcomeCode } = await customerReturns(s);
    const menu = {
      head_content: 'What do you need?',
      list: [
        { type: 'click' as const, click: { id: 'order', content: 'Track my order' } },
        { type: 'view' as const, view: { url: 'https://example.com/faq', content: 'FAQ' } },
      ],
      tail_content: 'Or just write to us.',
    };
    const ack = await gw.sendOnEvent(user, welcomeCode, 'msgmenu', menu);
    const [sent] = await sentWith(s, welcomeCode);
    expect(sent).toMatchObject({ msgid: ack.msgid, msgtype: 'msgmenu' });
    expect(sent?.body['msgmenu']).toEqual(menu);

    const late = await customerReturns(s);
    await s.fake.control.advanceClock(21_000);
    const refused = await refusal(late.gw.sendOnEvent(late.user, late.welcomeCode, 'text', { content: 'too late' }));
    expect(refused).toMatchObject({ code: 'WECOM_API_ERROR', wecom_errcode: 40029 });
    expect(await sentWith(s, late.welcomeCode)).toEqual([]);
  });

  it("WeCom's limits are checked before anything is sent, each refusal naming its limit", async () => {
    const s = stack();
    const { gw, user, welcomeCode } = await customerReturns(s);
    const tooMany = Array.from({ length: 11 }, (_, i) => ({ type: 'click' as const, click: { id: `i${i}`, content: `item ${i}` } }));
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ msgtype: 'image', image: { media_data: 'AAAA' } }, /msgtype must be "text" or "msgmenu"/],
      [{ msgtype: 'text', text: { content: 'x'.repeat(2049) } }, /text\.content must be 1-2048 UTF-8 bytes/],
      [{ msgtype: 'msgmenu', msgmenu: { list: tooMany } }, /msgmenu\.list must have at most 10 items/],
      [{ msgtype: 'text', text: { content: 'hi' }, code: '' }, /code must be 1-128 UTF-8 bytes/],
    ];
    for (const [body, message] of cases) {
      const id = uid('bad');
      gw.sendFrame({ type: 'send_on_event', id, external_user_id: user, code: welcomeCode, ...body });
      const err = await gw.waitFor((f) => f.type === 'error' && f.id === id);
      expect(err.code).toBe('FRAME_INVALID');
      expect(String(err.message)).toMatch(message);
    }
    expect(await sentWith(s, welcomeCode)).toEqual([]);
    // The code was not spent by the refusals.
    await gw.sendOnEvent(user, welcomeCode, 'text', { content: 'now valid' });
    expect(await sentWith(s, welcomeCode)).toHaveLength(1);
  });

  it('only for the bound gateway; a welcome it sent can be recalled; a gateway that did not ask gets FRAME_UNKNOWN_TYPE', async () => {
    const s = stack();
    const { gw, user, welcomeCode } = await customerReturns(s);
    const other = await s.gateway({ features: ['rich_outbound'] });
    expect(await refusal(other.sendOnEvent(user, welcomeCode, 'text', { content: 'not mine' }))).toMatchObject({ code: 'NOT_BOUND' });

    const ack = await gw.sendOnEvent(user, welcomeCode, 'text', { content: 'hello' });
    expect(await gw.recall(String(ack.msgid))).toMatchObject({ type: 'ack' });
    expect((await sentWith(s, welcomeCode))[0]?.recalled).toBe(true);

    const old = await s.gateway();
    const oldUser = newUserId();
    await bindByScan(s, old, oldUser);
    expect(await refusal(old.sendOnEvent(oldUser, 'code', 'text', { content: 'x' }))).toMatchObject({ code: 'FRAME_UNKNOWN_TYPE' });
  });
});

describe('send_on_event in the cs dialect', () => {
  it('cs_send_on_event with customer_id is answered with cs_ack', async () => {
    const s = stack();
    const gw = await s.gateway({ dialect: 'cs', features: ['rich_outbound'] });
    const user = newUserId();
    await bindByScan(s, gw, user);
    const code = uid('w').replace(/-/g, '');
    await s.fake.control.event({ event_type: 'enter_session', external_userid: user, welcome_code: code });
    const ack = await gw.sendOnEvent(user, code, 'text', { content: 'Welcome!' });
    expect(ack).toMatchObject({ type: 'cs_ack', platform: 'wecom', msgid: expect.any(String) });
    expect(await sentWith(s, code)).toEqual([expect.objectContaining({ touser: user, content: 'Welcome!' })]);
  });
});

describe('session_status carries msg_code for send_on_event', () => {
  it('a servicer ending the session hands the gateway a msg_code it can send a closing message with', async () => {
    const s = stack();
    const gw: GatewayClient = await s.gateway({ features: ['rich_outbound', 'session_events'] });
    const user = newUserId();
    await bindByScan(s, gw, user);
    await s.fake.control.sessionChange({ external_userid: user, change_type: 1, servicer_userid: 'agent-li' });
    const ended = await s.fake.control.sessionChange({ external_userid: user, change_type: 3 });
    const frame = await gw.waitFor((f) => f.type === 'session_status' && f.id === ended.msgid);
    expect(typeof frame.msg_code).toBe('string');
    await gw.sendOnEvent(user, String(frame.msg_code), 'text', { content: 'Thanks for chatting with us.' });
    expect(await sentWith(s, String(frame.msg_code))).toHaveLength(1);
  });

  it('a service_state move answers the msg_code WeCom gave, for a queue notice through send_on_event', async () => {
    const s = stack();
    const gw = await s.gateway({ features: ['rich_outbound'] });
    const user = newUserId();
    await bindByScan(s, gw, user);
    const ack = await gw.serviceState(user, { serviceState: 2 });
    expect(ack).toMatchObject({ type: 'ack', service_state: 2, msg_code: expect.any(String) });
    await gw.sendOnEvent(user, String(ack.msg_code), 'text', { content: 'You are number 3 in the queue.' });
    expect(await sentWith(s, String(ack.msg_code))).toHaveLength(1);
  });
});
