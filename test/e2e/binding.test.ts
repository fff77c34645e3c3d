import { describe, expect, it } from 'vitest';
import { GatewayClientError, baseType } from '@wecom-relay/gateway-client';
import { bindByScan, isBindingResolvedFor } from './support/binding-steps.js';
import { eventually } from './support/eventually.js';
import { newUserId, uid, useRelayStack } from './support/relay-stack.js';
import { useSdkApps, waitForLogs } from './support/sdk-app.js';

const stack = useRelayStack({ relayEnv: { LOCALE: 'en' } });
const sdkApp = useSdkApps(stack);

/** The English confirmation a bound user receives contains this. */
const CONFIRMATION = /connected/i;

describe('binding by QR scan', () => {
  it('answers create_binding with a token link, binds the scanning user and confirms to both sides', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();

    const offer = await gw.createBinding();
    expect(offer.frame).toMatchObject({ type: 'create_binding_ack' });
    expect(offer.token).toMatch(/^[0-9a-f]{8}$/);
    expect(offer.customerServiceUrl).toContain(`scene_param=${offer.token}`);

    await s.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    const resolved = await gw.waitFor(isBindingResolvedFor(user));
    expect(resolved).toMatchObject({ type: 'binding_resolved', external_user_id: user, gateway_id: gw.gatewayId });

    await eventually(async () => {
      const toUser = await s.fake.control.sent({ touser: user });
      expect(toUser.some((m) => m.msgtype === 'text' && CONFIRMATION.test(m.content ?? ''))).toBe(true);
    });

    const hello = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'first words' });
    await gw.waitForInbound((m) => m.id === hello.msgid);
  });

  it('moves a user who scans another gateway\'s link to that gateway: only the second app gets their messages', async () => {
    const s = stack();
    const first = sdkApp(uid('gw'));
    const second = sdkApp(uid('gw'));
    await Promise.all([first.gateway.start(), second.gateway.start()]);
    const user = newUserId();
    await first.bind(s.fake.control, user);
    await second.bind(s.fake.control, user);

    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'who has me now?' });
    await waitForLogs([{ msgid: sent.msgid, user, seq: 0 }], () => second.log, 15_000);
    expect(second.log).toEqual([{ msgid: sent.msgid, user, content: 'who has me now?' }]);
    expect(first.log).toEqual([]);
  });
});

describe('binding by typed token', () => {
  it('binds a user who sends the token as a text message', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    const offer = await gw.createBinding();

    await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: offer.token });
    const resolved = await gw.waitFor(isBindingResolvedFor(user));
    expect(resolved).toMatchObject({ type: 'binding_resolved', gateway_id: gw.gatewayId });
    await eventually(async () => {
      const toUser = await s.fake.control.sent({ touser: user });
      expect(toUser.some((m) => m.msgtype === 'text' && CONFIRMATION.test(m.content ?? ''))).toBe(true);
    });

    const later = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'now bound' });
    await gw.waitForInbound((m) => m.id === later.msgid);
  });
});

describe('reconnecting gateways', () => {
  it('get one binding_resolved per binding right after the hello ack', async () => {
    const s = stack();
    const gw = await s.gateway();
    const users = [newUserId(), newUserId()];
    for (const user of users) await bindByScan(s, gw, user);
    await gw.close();

    const again = await s.gateway({ gatewayId: gw.gatewayId });
    expect(again.received[0]).toEqual({ type: 'ack', id: 'hello' });
    for (const user of users) await again.waitFor(isBindingResolvedFor(user));
    expect(again.resolvedBindings().sort()).toEqual([...users].sort());
  });

  it('in dialect 2 get cs_binding_cleared after hello when nothing is bound', async () => {
    const s = stack();
    const gw = await s.gateway({ dialect: 'cs' });
    expect(gw.received[0]).toEqual({ type: 'cs_ack', id: 'cs_hello' });
    const cleared = await gw.waitFor((f) => f.type === 'cs_binding_cleared');
    expect(cleared).toMatchObject({ gateway_id: gw.gatewayId });
  });

  it('in dialect 2 get cs_binding_resolved instead of cs_binding_cleared when bound', async () => {
    const s = stack();
    const gw = await s.gateway({ dialect: 'cs' });
    const user = newUserId();
    await bindByScan(s, gw, user);
    await gw.close();

    const again = await s.gateway({ dialect: 'cs', gatewayId: gw.gatewayId });
    const resolved = await again.waitFor(isBindingResolvedFor(user));
    expect(resolved).toMatchObject({ type: 'cs_binding_resolved', platform: 'wecom', customer_id: user, gateway_id: gw.gatewayId });
    expect(again.received.some((f) => f.type === 'cs_binding_cleared')).toBe(false);
  });
});

describe('unbind_all', () => {
  it('acks, ends the users\' WeCom sessions, and stops their messages reaching the gateway', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const transBefore = (await s.fake.control.stats()).calls['kf/service_state/trans'] ?? 0;

    const ack = await gw.unbindAll();
    expect(ack).toEqual({ type: 'ack', id: 'unbind_all' });
    const transAfter = (await s.fake.control.stats()).calls['kf/service_state/trans'] ?? 0;
    expect(transAfter).toBeGreaterThan(transBefore);

    // A user bound afterwards is the marker: messages are pulled in order, so once the later user's message is
    // in, the unbound user's earlier message has been handled too.
    const marker = newUserId();
    await bindByScan(s, gw, marker);
    const dropped = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'anyone there?' });
    const markerMessage = await s.fake.control.customerMessage({ external_userid: marker, msgtype: 'text', content: 'marker' });
    await gw.waitForInbound((m) => m.id === markerMessage.msgid);
    expect(gw.inbound().map((m) => m.id)).not.toContain(dropped.msgid);
  });

  it('uses cs_ack with id cs_unbind_all in dialect 2', async () => {
    const s = stack();
    const gw = await s.gateway({ dialect: 'cs' });
    await bindByScan(s, gw, newUserId());
    expect(await gw.unbindAll()).toMatchObject({ type: 'cs_ack', id: 'cs_unbind_all' });
  });
});

describe('ownership', () => {
  it('refuses a reply to another gateway\'s user with NOT_BOUND and the request id', async () => {
    const s = stack();
    const owner = await s.gateway();
    const intruder = await s.gateway();
    const user = newUserId();
    await bindByScan(s, owner, user);

    const err = await intruder.reply(user, 'not yours to answer', 'steal-1').catch((e: unknown) => e);

    expect(err).toBeInstanceOf(GatewayClientError);
    expect((err as GatewayClientError).frame).toMatchObject({ type: 'error', id: 'steal-1', code: 'NOT_BOUND' });
    expect(typeof (err as GatewayClientError).frame?.message).toBe('string');
    const toUser = await s.fake.control.sent({ touser: user });
    expect(toUser.map((m) => m.content)).not.toContain('not yours to answer');
    // The refusal is not fatal: the intruder's socket stays usable.
    expect(intruder.isConnected).toBe(true);
    expect(intruder.received.filter((f) => baseType(f.type) === 'error')).toHaveLength(1);
  });
});
