import { describe, expect, it } from 'vitest';
import { GatewayClientError } from '@wecom-relay/gateway-client';
import { GatewayError } from '../../packages/gateway-sdk/src/index.js';
import { bindByScan } from './support/binding-steps.js';
import { eventually } from './support/eventually.js';
import { newUserId, uid, useRelayStack } from './support/relay-stack.js';
import { useSdkApps, waitForLogs } from './support/sdk-app.js';

const stack = useRelayStack();
const sdkApp = useSdkApps(stack);

describe("WeCom's send window and late send failures", () => {
  it('tells the gateway app why WeCom refused a sixth reply to one customer message', async () => {
    const s = stack();
    const app = sdkApp(uid('gw'));
    await app.gateway.start();
    const user = newUserId();
    await app.bind(s.fake.control, user);
    const spoke = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'question' });
    await waitForLogs([{ msgid: spoke.msgid, user, seq: 0 }], () => app.log, 15_000);
    expect(app.log.map((e) => e.msgid)).toEqual([spoke.msgid]);

    for (let i = 1; i <= 5; i++) expect((await app.gateway.reply(user, `answer ${i}`, { id: `r-${i}` })).msgid).toBeTruthy();
    const refused = await app.gateway.reply(user, 'answer 6', { id: 'r-6' }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(GatewayError);
    // Refused by the relay itself: WeCom is not called, so there is no WeCom errcode.
    expect(refused).toMatchObject({ code: 'SEND_WINDOW_CLOSED', requestId: 'r-6', wecomErrcode: undefined });
    expect((refused as GatewayError).message).toContain('5 were sent since');
    const viaSendMsg = (await s.fake.control.sent({ touser: user })).filter((m) => m.via === 'send_msg');
    expect(viaSendMsg.map((m) => m.content)).toEqual([1, 2, 3, 4, 5].map((i) => `answer ${i}`));

    // The customer writes again: the window opens again.
    const again = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'one more' });
    await waitForLogs([{ msgid: again.msgid, user, seq: 1 }], () => app.log, 15_000);
    expect((await app.gateway.reply(user, 'answer 7', { id: 'r-7' })).msgid).toBeTruthy();
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

describe('long replies and resent replies', () => {
  it('sends a 5,000-byte Chinese reply in parts of at most 2048 bytes, in order, joined equal to the original', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const spoke = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'tell me everything' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === spoke.msgid);
    const long = '微信客服的长回复会被分成几段发送，每段不超过两千零四十八个字节。\n'.repeat(52); // 5,044 bytes
    expect(Buffer.byteLength(long, 'utf8')).toBeGreaterThan(5_000);

    const ack = await gw.reply(user, long, 'long-1');
    const sent = await s.fake.control.sent({ touser: user });
    const parts = sent.filter((m) => m.via === 'send_msg').map((m) => m.content ?? '');
    expect(parts.length).toBe(3);
    for (const part of parts) expect(Buffer.byteLength(part, 'utf8')).toBeLessThanOrEqual(2048);
    expect(parts.join('')).toBe(long);
    // Cut at line breaks, so no part starts or ends mid-sentence.
    for (const part of parts) expect(part.endsWith('\n')).toBe(true);
    expect(ack).toMatchObject({ type: 'ack', id: 'long-1', parts: 3, msgid: sent.at(-3)?.msgid, msgids: sent.slice(-3).map((m) => m.msgid) });
    expect(ack.unsent).toBeUndefined();
  });

  it('a reply resent with the same id after a reconnect is sent once and answered with the same ack', async () => {
    const s = stack();
    const first = await s.gateway();
    const user = newUserId();
    await bindByScan(s, first, user);
    const ack = await first.reply(user, 'only once, please', 'resent-1');
    await first.close();

    const again = await s.gateway({ gatewayId: first.gatewayId });
    const repeat = await again.reply(user, 'only once, please', 'resent-1');
    expect(repeat).toEqual(ack);
    expect((await s.fake.control.sent({ touser: user })).filter((m) => m.content === 'only once, please')).toHaveLength(1);

    // An old gateway that restarted its id counter: same id, new content, so a new reply.
    const fresh = await again.reply(user, 'a different answer', 'resent-1');
    expect(fresh.msgid).not.toBe(ack.msgid);
    expect((await s.fake.control.sent({ touser: user })).map((m) => m.content)).toContain('a different answer');
  });

  it("an error from WeCom reaches the gateway with WeCom's errcode, never its errmsg (which names the relay's IP)", async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const errmsg = 'invalid parameter, hint: [1700000000_77_x], from ip: 203.0.113.50, more info at https://open.work.weixin.qq.com';
    await s.fake.control.faults({ path: 'kf/send_msg', errcode: 40058, errmsg });
    const err = await gw.reply(user, 'refused', 'ip-1').then(
      () => null,
      (e: unknown) => e as GatewayClientError,
    );
    expect(err?.frame).toMatchObject({ type: 'error', id: 'ip-1', code: 'WECOM_API_ERROR', wecom_errcode: 40058 });
    expect(JSON.stringify(err?.frame)).not.toContain('203.0.113.50');
    expect(JSON.stringify(err?.frame)).not.toContain('hint');
    // Refused, so not remembered: the gateway may retry it and it goes.
    await eventually(async () => expect(await s.fake.control.faultsPending()).toEqual([]));
    expect((await gw.reply(user, 'refused', 'ip-1')).type).toBe('ack');
  });
});
