import { afterAll, describe, expect, it } from 'vitest';
import { generatedMedia } from '@wecom-relay/fake-wecom';
import type { DeliveredEvent, GatewayError } from '@wecom-relay/gateway';
import { eventually } from './support/eventually.js';
import { newUserId, uid, useRelayStack } from './support/relay-stack.js';
import { SdkApp } from './support/sdk-app.js';

/** The SDK speaking every opt-in frame with types, against a real node and the fake WeCom. */
describe('gateway SDK: session events, rich sends, welcome messages, media links', () => {
  const stack = useRelayStack({ relayEnv: { MEDIA_MAX_BYTES: '4096' } });
  const apps: SdkApp[] = [];
  afterAll(async () => {
    await Promise.allSettled(apps.map((a) => a.gateway.close()));
  });

  it('sees session events as typed events and answers with send, sendOnEvent, recall, serviceState and fetchMedia', async () => {
    const s = stack();
    const gatewayId = uid('sdk-rich');
    const features = ['rich_inbound', 'session_events', 'rich_outbound', 'media_by_reference'];
    const app = new SdkApp({ url: s.relay.wsUrl, gatewayId, authToken: s.tokenFor(gatewayId), sdk: { features } });
    apps.push(app);
    const events: DeliveredEvent[] = [];
    const gw = app.gateway;
    gw.on('session_entered', (e) => void events.push(e));
    gw.on('session_status', (e) => void events.push(e));
    gw.on('message_recalled', (e) => void events.push(e));
    gw.on('customer_rejected', (e) => void events.push(e));
    gw.on('servicer_message', (e) => void events.push(e));
    gw.on('inbound', (e) => void events.push(e));
    await gw.start();
    const user = newUserId();
    await app.bind(s.fake.control, user);

    // A returning customer: the welcome goes with the welcome_code the event carried.
    const code = uid('w').replace(/-/g, '');
    await s.fake.control.event({ event_type: 'enter_session', external_userid: user, scene: 'ad', welcome_code: code });
    const entered = await eventually(() => {
      const e = events.find((x) => x.type === 'session_entered');
      expect(e).toBeDefined();
      return e!;
    });
    expect(entered).toMatchObject({ type: 'session_entered', externalUserId: user, scene: 'ad', welcomeCode: code });
    const welcome = await gw.sendOnEvent(user, code, 'msgmenu', {
      head_content: 'Hello again',
      list: [{ type: 'click', click: { id: 'orders', content: 'My orders' } }],
    });
    expect(welcome.msgid).toEqual(expect.any(String));

    // The customer writes: a file over the inline bound comes as a link; a typed send answers, then is recalled.
    const hi = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'file', media_size: 10_000, media_mime: 'application/pdf' });
    const file = await eventually(() => {
      const e = events.find((x) => x.type === 'inbound' && x.id === hi.msgid);
      expect(e).toBeDefined();
      return e as Extract<DeliveredEvent, { type: 'inbound' }>;
    });
    expect(file).toMatchObject({ msgType: 'file', mediaUrl: expect.any(String), mediaUrlExpiresAt: expect.any(Number) });
    expect(file.mediaData).toBeUndefined();
    const media = await gw.fetchMedia(file);
    expect(media).toMatchObject({ mime: 'application/pdf', size: 10_000 });
    expect(Buffer.from(await new Response(media.body).arrayBuffer()).equals(generatedMedia(10_000))).toBe(true);
    const altered = await gw.fetchMedia(file.mediaUrl!.replace(/exp=\d+/, 'exp=1')).catch((e: GatewayError) => e);
    expect(altered).toMatchObject({ code: 'MEDIA_LINK_INVALID' });

    const loc = await gw.send(user, 'location', { latitude: 31.23, longitude: 121.47, name: 'Shop', address: 'Nanjing Rd' });
    await gw.recall(loc.msgid!);
    const sent = await s.fake.control.sent({ touser: user });
    expect(sent.find((m) => m.msgid === loc.msgid)).toMatchObject({ msgtype: 'location', recalled: true });
    expect(sent.find((m) => m.msgid === welcome.msgid)).toMatchObject({ via: 'send_msg_on_event', msgtype: 'msgmenu' });

    // The customer recalls; a human takes over and writes; a bot send is refused with the reason; handed back.
    await s.fake.control.recall({ external_userid: user, recall_msgid: hi.msgid });
    await s.fake.control.sessionChange({ external_userid: user, change_type: 1, servicer_userid: 'agent-li' });
    await s.fake.control.servicerMessage({ external_userid: user, servicer_userid: 'agent-li', content: 'Hi, Li here' });
    await s.fake.control.rejectSwitch({ external_userid: user, servicer_userid: 'agent-li', reject: true });
    await eventually(() => {
      expect(events.map((e) => e.type)).toEqual(
        expect.arrayContaining(['message_recalled', 'session_status', 'servicer_message', 'customer_rejected']),
      );
    });
    expect(events.find((e) => e.type === 'customer_rejected')).toMatchObject({ externalUserId: user, servicerUserId: 'agent-li', rejected: true });
    expect(events.find((e) => e.type === 'message_recalled')).toMatchObject({ recallMsgid: hi.msgid, by: 'customer' });
    expect(events.find((e) => e.type === 'session_status')).toMatchObject({ changeType: 1, humanServicing: true, newServicerUserId: 'agent-li' });
    expect(events.find((e) => e.type === 'servicer_message')).toMatchObject({ servicerUserId: 'agent-li', content: 'Hi, Li here' });
    const refused = await gw.send(user, 'text', { content: 'bot' }).catch((e: GatewayError) => e);
    expect(refused).toMatchObject({ code: 'SESSION_TAKEN_OVER', wecomErrcode: 95018 });
    expect(await gw.serviceState(user)).toMatchObject({ serviceState: 3, servicerUserId: 'agent-li' });
    expect(await gw.serviceState(user, { serviceState: 1 })).toMatchObject({ serviceState: 1 });
    await gw.send(user, 'text', { content: 'the bot again' });
  }, 120_000);
});
