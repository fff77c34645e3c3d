import { describe, expect, it } from 'vitest';
import { bindByScan } from '../e2e/support/binding-steps.js';
import { newUserId, useRelayStack } from '../e2e/support/relay-stack.js';
import { fireReplies, scrapeCounter } from './support/reply-flood.js';

// A real node process on SQLite, the fake WeCom as a process, real gateway sockets.
const stack = useRelayStack();

const EGRESS_IP = '203.0.113.99';
const errmsgWithIp = `api forbidden, hint: [1733200000_12_ab], from ip: ${EGRESS_IP}, more info at https://open.work.weixin.qq.com`;

describe('issue 8: no gateway can exhaust WeCom', () => {
  it("create_binding and unbind_all: WeCom's errmsg (with the relay's IP) never reaches the gateway", async () => {
    const s = stack();
    const gw = await s.gateway();
    // Before any binding link was made, so the relay must ask kf/add_contact_way now.
    await s.fake.control.faults({ path: 'kf/add_contact_way', errcode: 48002, errmsg: errmsgWithIp });
    gw.sendFrame({ type: 'create_binding', gateway_id: gw.gatewayId });
    const error = await gw.waitFor((f) => f.type === 'error');
    expect(error).toMatchObject({ code: 'WECOM_API_ERROR', wecom_errcode: 48002 });
    expect(JSON.stringify(error)).not.toContain(EGRESS_IP);
    expect(JSON.stringify(error)).not.toContain('hint');

    const user = newUserId();
    await bindByScan(s, gw, user);
    await s.fake.control.faults({ path: 'kf/service_state/trans', errcode: 95016, errmsg: errmsgWithIp, times: 5 });
    expect(await gw.unbindAll()).toEqual({ type: 'ack', id: 'unbind_all' });
    expect(JSON.stringify(gw.received)).not.toContain(EGRESS_IP);
    await s.fake.control.clearFaults();
  });

  it('200 replies fired at once to one customer: at most 10 reach WeCom, every one is answered, the node stays healthy', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const spoke = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'hello?' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === spoke.msgid);
    const callsBefore = (await s.fake.control.stats()).calls['kf/send_msg'] ?? 0;
    const refusedBefore = await scrapeCounter(s.relay.httpUrl, 'relay_replies_refused_total');

    const answers = await fireReplies(gw, user, 200, 'flood');

    const calls = ((await s.fake.control.stats()).calls['kf/send_msg'] ?? 0) - callsBefore;
    expect(calls).toBeLessThanOrEqual(10);
    expect(answers.filter((a) => a.kind === 'none')).toEqual([]);
    const acks = answers.filter((a) => a.kind === 'ack');
    const errors = answers.filter((a) => a.kind === 'error');
    expect(acks.length + errors.length).toBe(200);
    // Every error names its request and carries one of the refusal codes; nothing WeCom said leaks.
    for (const a of errors) {
      expect(a.frame.id).toBe(a.id);
      expect(['RATE_LIMITED', 'SEND_WINDOW_CLOSED']).toContain(a.frame.code);
    }
    for (const a of acks) expect(a.frame.id).toBe(a.id);
    // WeCom's window takes 5 after a customer message; the relay sent exactly those and WeCom refused nothing.
    const sent = (await s.fake.control.sent({ touser: user })).filter((m) => m.via === 'send_msg');
    expect(acks).toHaveLength(5);
    expect(sent).toHaveLength(5);
    expect((await s.fake.control.stats()).errors['95001'] ?? 0).toBe(0);
    expect(await scrapeCounter(s.relay.httpUrl, 'relay_replies_refused_total')).toBe(refusedBefore + errors.length);
    expect(await scrapeCounter(s.relay.httpUrl, 'relay_replies_refused_total', { reason: 'rate_limited' })).toBeGreaterThan(0);
    expect(await scrapeCounter(s.relay.httpUrl, 'relay_replies_refused_total', { reason: 'send_window_closed' })).toBeGreaterThan(0);

    // Healthy after: serving, ready, still delivering and replying once the customer writes again (and the bucket refills).
    expect((await fetch(`${s.relay.httpUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.relay.httpUrl}/readyz`)).status).toBe(200);
    const again = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'still there?' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === again.msgid);
    let ack;
    for (let attempt = 0; attempt < 50 && !ack; attempt++) {
      ack = await gw.reply(user, 'yes', `after-${attempt}`).catch((err: { frame?: { code?: string } }) => {
        if (err.frame?.code !== 'RATE_LIMITED') throw err;
        return new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 200));
      });
    }
    expect(ack).toMatchObject({ type: 'ack' });
  });
});
