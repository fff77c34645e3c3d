import { describe, expect, it } from 'vitest';
import { bindByScan } from './support/binding-steps.js';
import { eventually } from './support/eventually.js';
import { newUserId, uid, useRelayStack } from './support/relay-stack.js';
import { useSdkApps, waitForLogs } from './support/sdk-app.js';
import { syncIdle } from './support/sync-idle.js';

const stack = useRelayStack();
const sdkApp = useSdkApps(stack);

describe('acknowledged delivery', () => {
  it('keeps a message for an offline gateway app and hands it to the app when it comes back', async () => {
    const s = stack();
    const gatewayId = uid('gw');
    const first = sdkApp(gatewayId);
    await first.gateway.start();
    const user = newUserId();
    await first.bind(s.fake.control, user);
    await first.gateway.close();

    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'while you were away' });
    // The relay has pulled the message while nobody was connected.
    await eventually(async () => {
      expect(await s.fake.control.served()).toHaveProperty([sent.msgid]);
    });
    await syncIdle(s.relay.metricsUrl);
    expect(first.log).toEqual([]);

    // The app restarts (a new process would start the same way): its handler gets the message, once.
    const back = sdkApp(gatewayId);
    await back.gateway.start();
    await waitForLogs([{ msgid: sent.msgid, user, seq: 0 }], () => back.log, 15_000);
    expect(back.log).toEqual([{ msgid: sent.msgid, user, content: 'while you were away' }]);
  });

  it('delivers an unacknowledged message again after a reconnect, with the same delivery id', async () => {
    const s = stack();
    const gw = await s.gateway({ delivery: 'ack', autoAck: false });
    const user = newUserId();
    const offer = await gw.createBinding();
    await s.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    const resolved = await gw.waitFor((f) => f.type === 'binding_resolved' && f.external_user_id === user);
    gw.ackDelivery(String(resolved.delivery_id));

    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'ack me' });
    const first = await gw.waitForInbound((m) => m.id === sent.msgid);
    expect(typeof first.deliveryId).toBe('string');
    await gw.terminate();

    const again = await s.gateway({ gatewayId: gw.gatewayId, delivery: 'ack' });
    const second = await again.waitForInbound((m) => m.id === sent.msgid);
    expect(second.deliveryId).toBe(first.deliveryId);

    // Acknowledged now (autoAck): a further reconnect does not bring it back before newer messages.
    await again.close();
    const marker = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'marker' });
    const third = await s.gateway({ gatewayId: gw.gatewayId, delivery: 'ack' });
    await third.waitForInbound((m) => m.id === marker.msgid);
    expect(third.inbound().map((m) => m.id)).not.toContain(sent.msgid);
  });

  it('resumes after resume_after, and after the last acknowledged id when resume_after is not one it issued', async () => {
    const s = stack();
    const gw = await s.gateway({ delivery: 'ack' });
    const user = newUserId();
    await bindByScan(s, gw, user);
    const first = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'one' });
    const seen = await gw.waitForInbound((m) => m.id === first.msgid);
    await gw.close();
    const second = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'two' });
    await eventually(async () => {
      expect((await s.fake.control.served())[second.msgid]).toBeDefined();
    });

    const bogus = await s.gateway({ gatewayId: gw.gatewayId, delivery: 'ack', resumeAfter: 'not-a-delivery-id' });
    expect((await bogus.waitForInbound((m) => m.id === second.msgid)).content).toBe('two');
    await bogus.close();

    // Resuming after an older id starts at the oldest event still kept: acknowledged events are gone.
    const third = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'three' });
    const resumed = await s.gateway({ gatewayId: gw.gatewayId, delivery: 'ack', resumeAfter: String(seen.deliveryId) });
    await resumed.waitForInbound((m) => m.id === third.msgid);
    expect(resumed.inbound().map((m) => m.content)).not.toContain('one');
  });

  it('keeps an unacknowledged message when an event behind it is skipped for this gateway', async () => {
    const s = stack();
    const gw = await s.gateway({ delivery: 'ack', autoAck: false });
    const user = newUserId();
    const offer = await gw.createBinding();
    await s.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    const resolved = await gw.waitFor((f) => f.type === 'binding_resolved' && f.external_user_id === user);
    gw.ackDelivery(String(resolved.delivery_id));
    const reply = await gw.reply(user, 'a reply WeCom will later report as failed');

    const unacked = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'not confirmed yet' });
    await gw.waitForInbound((m) => m.id === unacked.msgid);
    // send_failed is queued behind it, but this gateway did not ask for it, so it is skipped.
    await s.fake.control.event({ event_type: 'msg_send_fail', external_userid: user, fail_msgid: String(reply.msgid), fail_type: 10 });
    const marker = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'marker' });
    await gw.waitForInbound((m) => m.id === marker.msgid);
    await gw.terminate();

    const again = await s.gateway({ gatewayId: gw.gatewayId, delivery: 'ack' });
    const redelivered = await again.waitForInbound((m) => m.id === unacked.msgid);
    expect(redelivered.content).toBe('not confirmed yet');
    await again.waitForInbound((m) => m.id === marker.msgid);
    expect(again.received.some((f) => f.type === 'send_failed')).toBe(false);
  });
});

