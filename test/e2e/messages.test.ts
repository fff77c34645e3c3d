import { describe, expect, it } from 'vitest';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';

const stack = useRelayStack();

/** A tiny but valid PNG (1×1, RGBA). */
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
  'base64',
);
/** AMR-NB magic followed by a few silent 12.2 kbit/s frames. */
const AMR = Buffer.concat([Buffer.from('#!AMR\n', 'latin1'), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([0x3c]), Buffer.alloc(31, 7)]))]);

describe('customer messages reach the bound gateway', () => {
  it('delivers a text as an inbound frame with WeCom msgid and send_time', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);

    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'hello 你好' });
    const frame = await gw.waitFor((f) => f.type === 'inbound' && f.id === sent.msgid);

    expect(frame).toMatchObject({
      type: 'inbound',
      id: sent.msgid,
      external_user_id: user,
      msg_type: 'text',
      content: 'hello 你好',
      timestamp: sent.message.send_time,
    });
    expect(frame).not.toHaveProperty('media_data');
  });

  it('inlines an image as base64 with the mime type WeCom served', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);

    const sent = await s.fake.control.customerMessage({
      external_userid: user,
      msgtype: 'image',
      media_base64: PNG.toString('base64'),
      media_mime: 'image/png',
    });
    const message = await gw.waitForInbound((m) => m.id === sent.msgid);

    expect(message.msgType).toBe('image');
    expect(message.content).toBe('');
    expect(message.mediaData).toBe(PNG.toString('base64'));
    expect(message.mediaMime).toBe('image/png');
    expect(message.timestamp).toBe(sent.message.send_time);
    expect(message.externalUserId).toBe(user);
  });

  it('inlines a voice message (AMR) the same way', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);

    const sent = await s.fake.control.customerMessage({
      external_userid: user,
      msgtype: 'voice',
      media_base64: AMR.toString('base64'),
      media_mime: 'voice/amr',
    });
    const message = await gw.waitForInbound((m) => m.id === sent.msgid);

    expect(message).toMatchObject({ msgType: 'voice', content: '', mediaMime: 'voice/amr', timestamp: sent.message.send_time });
    expect(Buffer.from(message.mediaData ?? '', 'base64').equals(AMR)).toBe(true);
  });
});

describe('gateway replies reach WeCom', () => {
  it('sends a text reply and acks it with the reply id and WeCom msgid', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'question' });
    await gw.waitForInbound((m) => m.externalUserId === user && m.content === 'question');

    const ack = await gw.reply(user, 'the answer is 42', 'reply-text-1');

    expect(ack).toMatchObject({ type: 'ack', id: 'reply-text-1' });
    expect(typeof ack.msgid).toBe('string');
    const received = await s.fake.control.sent({ touser: user });
    expect(received).toContainEqual(
      expect.objectContaining({ msgtype: 'text', content: 'the answer is 42', msgid: ack.msgid, via: 'send_msg' }),
    );
  });

  it('uploads an image reply and sends it as an image message', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'send me a picture' });
    await gw.waitForInbound((m) => m.externalUserId === user);

    const ack = await gw.imageReply(user, PNG, 'image/png', 'reply-img-1');

    expect(ack).toMatchObject({ type: 'ack', id: 'reply-img-1' });
    expect(typeof ack.msgid).toBe('string');
    const images = (await s.fake.control.sent({ touser: user })).filter((m) => m.msgtype === 'image');
    expect(images).toHaveLength(1);
    expect(images[0]).toMatchObject({ msgid: ack.msgid, media_base64: PNG.toString('base64') });
  });
});

describe('dialect 2 gateways', () => {
  it('receive cs_inbound with customer_id and platform, and reply with cs_reply', async () => {
    const s = stack();
    const gw = await s.gateway({ dialect: 'cs' });
    const user = newUserId();
    const offer = await gw.createBinding();
    expect(offer.frame.type).toBe('cs_create_binding_ack');
    await s.fake.control.scan({ external_userid: user, url: offer.customerServiceUrl });
    const resolved = await gw.waitFor((f) => f.type === 'cs_binding_resolved' && f.customer_id === user);
    expect(resolved).toMatchObject({ platform: 'wecom', gateway_id: gw.gatewayId });

    const sent = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'from dialect 2' });
    const inbound = await gw.waitFor((f) => f.type === 'cs_inbound' && f.id === sent.msgid);
    expect(inbound).toMatchObject({
      platform: 'wecom',
      customer_id: user,
      msg_type: 'text',
      content: 'from dialect 2',
      timestamp: sent.message.send_time,
    });
    expect(inbound).not.toHaveProperty('external_user_id');

    const ack = await gw.reply(user, 'answer in dialect 2', 'cs-reply-1');
    expect(ack).toMatchObject({ type: 'cs_ack', id: 'cs-reply-1' });
    expect(typeof ack.msgid).toBe('string');
    expect(await s.fake.control.sent({ touser: user })).toContainEqual(
      expect.objectContaining({ msgtype: 'text', content: 'answer in dialect 2', msgid: ack.msgid }),
    );
  });
});
