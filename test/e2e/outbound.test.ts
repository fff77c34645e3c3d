import { describe, expect, it } from 'vitest';
import { GatewayClientError } from '@wecom-relay/gateway-client';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';

const stack = useRelayStack();

describe("WeCom's send window and late send failures", () => {
  it('tells the gateway why WeCom refused a sixth reply to one customer message', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const spoke = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'question' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === spoke.msgid);

    for (let i = 1; i <= 5; i++) expect((await gw.reply(user, `answer ${i}`, `r-${i}`)).type).toBe('ack');
    const refused = await gw.reply(user, 'answer 6', 'r-6').then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(GatewayClientError);
    const frame = (refused as GatewayClientError).frame;
    expect(frame).toMatchObject({ type: 'error', id: 'r-6', code: 'SEND_WINDOW_CLOSED', wecom_errcode: 95001 });
    expect(String(frame?.message)).toContain('5 message(s) were sent since');

    // The customer writes again: the window opens again.
    const again = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'one more' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === again.msgid);
    expect((await gw.reply(user, 'answer 7', 'r-7')).type).toBe('ack');
  });

  it('reports a later msg_send_fail to the gateway that sent the reply, if it asked for send_failed', async () => {
    const s = stack();
    const gw = await s.gateway({ features: ['send_failed'] });
    const user = newUserId();
    await bindByScan(s, gw, user);
    const ack = await gw.reply(user, 'you will not see this', 'will-fail');
    await s.fake.control.event({ event_type: 'msg_send_fail', external_userid: user, fail_msgid: String(ack.msgid), fail_type: 10 });
    const failed = await gw.waitFor((f) => f.type === 'send_failed');
    expect(failed).toEqual({
      type: 'send_failed',
      id: 'will-fail',
      external_user_id: user,
      msgid: ack.msgid,
      fail_type: 10,
      reason: 'the user rejected the message',
    });
  });

  it('does not send send_failed to a gateway that did not ask for it', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const ack = await gw.reply(user, 'also rejected', 'old-gw');
    await s.fake.control.event({ event_type: 'msg_send_fail', external_userid: user, fail_msgid: String(ack.msgid), fail_type: 10 });
    // A message after the event proves the event was processed before we look.
    const marker = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'marker' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === marker.msgid);
    expect(gw.received.some((f) => f.type === 'send_failed')).toBe(false);
  });
});
