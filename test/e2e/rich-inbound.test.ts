import { describe, expect, it } from 'vitest';
import type { GatewayClient, WireFrame } from '@wecom-relay/gateway-client';
import { SAMPLE_AMR, SAMPLE_MP4, SAMPLE_PNG } from '@wecom-relay/fake-wecom';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack, type RelayStack } from './support/relay-stack.js';

const stack = useRelayStack();

interface Case {
  /** What the customer sends (fake control fields). */
  send: Record<string, unknown> & { msgtype: string };
  /** What a rich_inbound gateway reads: msg_type and the object under that key (or `payload`). */
  rich: { msgType: string; key: string; fields: Record<string, unknown> };
  /** What an old gateway reads, exactly as before the feature existed. */
  old: { msgType: string; content: string };
  media?: { base64: string; mime: string };
}

const FILE_BYTES = Buffer.from('%PDF-1.4 quarterly report\n', 'latin1');

/** Every kind of §2.2 a customer can send, with the fields WeCom documents (newer kinds' fields are UNCONFIRMED). */
const CASES: Case[] = [
  {
    send: { msgtype: 'text', content: 'plain words' },
    rich: { msgType: 'text', key: 'text', fields: { content: 'plain words' } },
    old: { msgType: 'text', content: 'plain words' },
  },
  {
    send: { msgtype: 'text', content: 'Yes, book it', menu_id: '101' },
    rich: { msgType: 'menu', key: 'menu', fields: { menu_id: '101', content: 'Yes, book it' } },
    old: { msgType: 'text', content: 'Yes, book it' },
  },
  {
    send: { msgtype: 'image', media_base64: SAMPLE_PNG.toString('base64'), media_mime: 'image/png' },
    rich: { msgType: 'image', key: 'image', fields: {} },
    old: { msgType: 'image', content: '' },
    media: { base64: SAMPLE_PNG.toString('base64'), mime: 'image/png' },
  },
  {
    send: { msgtype: 'voice', media_base64: SAMPLE_AMR.toString('base64'), media_mime: 'voice/amr' },
    rich: { msgType: 'voice', key: 'voice', fields: {} },
    old: { msgType: 'voice', content: '' },
    media: { base64: SAMPLE_AMR.toString('base64'), mime: 'voice/amr' },
  },
  {
    send: { msgtype: 'video', media_base64: SAMPLE_MP4.toString('base64'), media_mime: 'video/mp4' },
    rich: { msgType: 'video', key: 'video', fields: {} },
    old: { msgType: 'unknown', content: '' },
    media: { base64: SAMPLE_MP4.toString('base64'), mime: 'video/mp4' },
  },
  {
    send: { msgtype: 'file', media_base64: FILE_BYTES.toString('base64'), media_mime: 'application/pdf', media_filename: 'q.pdf' },
    rich: { msgType: 'file', key: 'file', fields: {} },
    old: { msgType: 'unknown', content: '' },
    media: { base64: FILE_BYTES.toString('base64'), mime: 'application/pdf' },
  },
  {
    send: { msgtype: 'location', latitude: 23.106, longitude: 113.32, name: 'Canton Tower', address: 'Haizhu, Guangzhou' },
    rich: {
      msgType: 'location',
      key: 'location',
      fields: { latitude: 23.106, longitude: 113.32, name: 'Canton Tower', address: 'Haizhu, Guangzhou' },
    },
    old: { msgType: 'unknown', content: 'Canton Tower Haizhu, Guangzhou (23.106, 113.32)' },
  },
  {
    send: { msgtype: 'link', title: 'Spec', desc: 'the doc', url: 'https://example.com/s', pic_url: 'https://example.com/p.png' },
    rich: {
      msgType: 'link',
      key: 'link',
      fields: { title: 'Spec', desc: 'the doc', url: 'https://example.com/s', pic_url: 'https://example.com/p.png' },
    },
    old: { msgType: 'unknown', content: 'Spec\nthe doc\nhttps://example.com/s' },
  },
  {
    send: { msgtype: 'business_card', userid: 'zhangsan' },
    rich: { msgType: 'business_card', key: 'business_card', fields: { userid: 'zhangsan' } },
    old: { msgType: 'unknown', content: 'zhangsan' },
  },
  {
    send: { msgtype: 'miniprogram', title: 'Shop', appid: 'wx123', pagepath: 'pages/index', thumb_media_id: 'MEDIA' },
    rich: { msgType: 'miniprogram', key: 'miniprogram', fields: { title: 'Shop', appid: 'wx123', pagepath: 'pages/index' } },
    old: { msgType: 'unknown', content: 'Shop pages/index' },
  },
  {
    send: {
      msgtype: 'channels_shop_product',
      product_id: '10000001',
      head_image: 'https://example.com/h.jpg',
      title: 'Tea',
      sales_price: '9.90',
      shop_nickname: 'Tea House',
      shop_head_image: 'https://example.com/s.jpg',
    },
    rich: {
      msgType: 'channels_shop_product',
      key: 'channels_shop_product',
      fields: {
        product_id: '10000001',
        head_image: 'https://example.com/h.jpg',
        title: 'Tea',
        sales_price: '9.90',
        shop_nickname: 'Tea House',
        shop_head_image: 'https://example.com/s.jpg',
      },
    },
    old: { msgType: 'unknown', content: '' },
  },
  {
    send: { msgtype: 'channels_shop_order', order_id: 'o-1', product_titles: 'Tea', price_wording: '9.90', state: 'paid' },
    rich: {
      msgType: 'channels_shop_order',
      key: 'channels_shop_order',
      fields: { order_id: 'o-1', product_titles: 'Tea', price_wording: '9.90', state: 'paid' },
    },
    old: { msgType: 'unknown', content: '' },
  },
  {
    // The spelling one SDK uses for the same kind (UNCONFIRMED which WeCom sends): read as the same kind.
    send: { msgtype: 'channel_shop_order', order_id: 'o-2' },
    rich: { msgType: 'channels_shop_order', key: 'channels_shop_order', fields: { order_id: 'o-2' } },
    old: { msgType: 'unknown', content: '' },
  },
  {
    send: {
      msgtype: 'merged_msg',
      title: 'Chat with Li',
      item: [{ send_time: 1700000000, msgtype: 'text', sender_name: 'Li', msg_content: '{"text":{"content":"hi"}}' }],
    },
    rich: {
      msgType: 'merged_msg',
      key: 'merged_msg',
      fields: {
        title: 'Chat with Li',
        item: [{ send_time: 1700000000, msgtype: 'text', sender_name: 'Li', msg_content: '{"text":{"content":"hi"}}' }],
      },
    },
    old: { msgType: 'unknown', content: '' },
  },
  {
    send: { msgtype: 'channels', sub_type: 1, nickname: 'Tea Channel', title: 'How to brew' },
    rich: { msgType: 'channels', key: 'channels', fields: { sub_type: 1, nickname: 'Tea Channel', title: 'How to brew' } },
    old: { msgType: 'unknown', content: '' },
  },
  {
    send: { msgtype: 'note' },
    rich: { msgType: 'note', key: 'note', fields: {} },
    old: { msgType: 'unknown', content: '' },
  },
  {
    send: { msgtype: 'meeting', meetingid: 'm-1', title: 'Weekly' },
    rich: { msgType: 'meeting', key: 'meeting', fields: { meetingid: 'm-1', title: 'Weekly' } },
    old: { msgType: 'unknown', content: '' },
  },
  {
    send: { msgtype: 'schedule', title: 'Visit', start_time: 1700000000 },
    rich: { msgType: 'schedule', key: 'schedule', fields: { title: 'Visit', start_time: 1700000000 } },
    old: { msgType: 'unknown', content: '' },
  },
  {
    // A kind this relay has never heard of still arrives, with WeCom's payload as it came.
    send: { msgtype: 'hologram', depth: 3, label: 'new' },
    rich: { msgType: 'unknown', key: 'payload', fields: { depth: 3, label: 'new' } },
    old: { msgType: 'unknown', content: '' },
  },
];

/** Two gateways on one relay, each with a bound customer: one that asked for rich_inbound, one deployed gateway. */
async function richAndOld(s: RelayStack, dialect: 'plain' | 'cs') {
  const rich = await s.gateway({ dialect, features: ['rich_inbound'] });
  const old = await s.gateway({ dialect });
  const richUser = newUserId();
  const oldUser = newUserId();
  await bindByScan(s, rich, richUser);
  await bindByScan(s, old, oldUser);
  return { rich, old, richUser, oldUser };
}

function inboundWithId(gw: GatewayClient, id: string): Promise<WireFrame> {
  return gw.waitFor((f) => (f.type === 'inbound' || f.type === 'cs_inbound') && f.id === id);
}

describe('rich_inbound: every kind of customer message, typed', () => {
  it('a rich gateway reads each kind by name with its fields; a deployed gateway gets the very frame it always got', async () => {
    const s = stack();
    const { rich, old, richUser, oldUser } = await richAndOld(s, 'plain');
    for (const c of CASES) {
      const toRich = await s.fake.control.customerMessage({ ...c.send, external_userid: richUser });
      const toOld = await s.fake.control.customerMessage({ ...c.send, external_userid: oldUser });

      const r = await inboundWithId(rich, toRich.msgid);
      expect(r.msg_type, c.send.msgtype).toBe(c.rich.msgType);
      expect(r[c.rich.key], c.send.msgtype).toEqual(c.rich.fields);
      expect(r.wecom_msg_type).toBe(c.send.msgtype);
      expect(r.content).toBe(c.old.content);
      if (c.media) expect({ data: r.media_data, mime: r.media_mime }).toEqual({ data: c.media.base64, mime: c.media.mime });
      // Media ids are the relay's business (useless without its token): never in a frame.
      expect(JSON.stringify(r)).not.toContain('media_id');

      const o = await inboundWithId(old, toOld.msgid);
      expect(o, c.send.msgtype).toEqual({
        type: 'inbound',
        id: toOld.msgid,
        external_user_id: oldUser,
        msg_type: c.old.msgType,
        content: c.old.content,
        timestamp: toOld.message.send_time,
        ...(c.media ? { media_data: c.media.base64, media_mime: c.media.mime } : {}),
        wecom_msg_type: c.send.msgtype,
      });
    }
  }, 120_000);

  it('speaks the cs dialect too: customer_id, cs_inbound, the typed object beside', async () => {
    const s = stack();
    const { rich, old, richUser, oldUser } = await richAndOld(s, 'cs');
    const location = CASES.find((c) => c.send.msgtype === 'location')!;
    const toRich = await s.fake.control.customerMessage({ ...location.send, external_userid: richUser });
    const toOld = await s.fake.control.customerMessage({ ...location.send, external_userid: oldUser });

    expect(await inboundWithId(rich, toRich.msgid)).toMatchObject({
      type: 'cs_inbound',
      platform: 'wecom',
      customer_id: richUser,
      msg_type: 'location',
      location: location.rich.fields,
    });
    expect(await inboundWithId(old, toOld.msgid)).toEqual({
      type: 'cs_inbound',
      platform: 'wecom',
      id: toOld.msgid,
      customer_id: oldUser,
      msg_type: 'unknown',
      content: location.old.content,
      timestamp: toOld.message.send_time,
      wecom_msg_type: 'location',
    });
  }, 60_000);
});
