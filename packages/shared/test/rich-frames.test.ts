import { describe, expect, it } from 'vitest';
import { decodeGatewayFrame, encodeGatewayEvent, richInbound } from '../src/index.js';

describe('features in hello', () => {
  it('keeps the known ones, drops the rest', () => {
    const r = decodeGatewayFrame(
      '{"type":"hello","gateway_id":"g","auth_token":"t","features":["rich_inbound","session_events","rich_outbound","warp"]}',
    );
    expect(r).toMatchObject({ ok: true, command: { features: ['rich_inbound', 'session_events', 'rich_outbound'] } });
  });
});

describe('send', () => {
  const send = (body: Record<string, unknown>) => decodeGatewayFrame(JSON.stringify({ type: 'send', id: 's1', external_user_id: 'u', ...body }));

  it('decodes a WeCom-shaped body, nulls dropped, cs dialect with customer_id', () => {
    expect(send({ msgtype: 'location', location: { latitude: 1, longitude: 2, name: null } })).toMatchObject({
      ok: true,
      command: { type: 'send', id: 's1', externalUserId: 'u', msgtype: 'location', payload: { latitude: 1, longitude: 2 } },
    });
    const cs = decodeGatewayFrame('{"type":"cs_send","id":"s","customer_id":"c","msgtype":"text","text":{"content":"hi"}}');
    expect(cs).toMatchObject({ ok: true, dialect: 'cs', command: { externalUserId: 'c', payload: { content: 'hi' } } });
  });

  it('names the limit a field breaks', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ msgtype: 'text', text: { content: 'é'.repeat(1025) } }, /text\.content must be 1-2048 UTF-8 bytes/],
      [{ msgtype: 'link', link: { title: 't', desc: 'd'.repeat(513), url: 'https://x', thumb_data: 'AAAA' } }, /link\.desc must be at most 512/],
      [{ msgtype: 'miniprogram', miniprogram: { appid: 'a'.repeat(33), pagepath: 'p', thumb_data: 'AAAA' } }, /miniprogram\.appid must be 1-32/],
      [{ msgtype: 'msgmenu', msgmenu: { list: [{ type: 'click', click: { id: 'x'.repeat(65), content: 'c' } }] } }, /msgmenu\.list\.0\.click\.id must be 1-64/],
      [{ msgtype: 'msgmenu', msgmenu: { list: [{ type: 'phone', phone: {} }] } }, /type must be "click", "view" or "miniprogram"/],
      [{ msgtype: 'location', location: { latitude: 0, longitude: 181 } }, /location\.longitude must be -180\.\.180/],
      [{ msgtype: 'file', file: { media_data: 'not base64!' } }, /file\.media_data must be base64/],
      [{ msgtype: 'sticker' }, /msgtype must be one of text, image/],
      [{ msgtype: 'link' }, /link is required|link .*expected object/],
    ];
    for (const [body, message] of cases) {
      const r = send(body);
      expect(r.ok, JSON.stringify(body)).toBe(false);
      if (!r.ok) {
        expect(r).toMatchObject({ code: 'FRAME_INVALID', requestId: 's1' });
        expect(r.message).toMatch(message);
      }
    }
  });

  it('recall and service_state', () => {
    expect(decodeGatewayFrame('{"type":"recall","id":"r","msgid":"m"}')).toMatchObject({ ok: true, command: { type: 'recall', id: 'r', msgid: 'm' } });
    expect(decodeGatewayFrame('{"type":"service_state","id":"q","external_user_id":"u"}')).toMatchObject({
      ok: true,
      command: { type: 'service_state', id: 'q', externalUserId: 'u' },
    });
    expect(decodeGatewayFrame('{"type":"service_state","id":"q","external_user_id":"u","service_state":5}')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/service_state must be 0-4/),
    });
  });
});

describe('relay frames of the features', () => {
  it('a rich inbound writes its object under its kind; without it the frame is the deployed one', () => {
    const base = { type: 'inbound', id: 'm', externalUserId: 'u', msgType: 'unknown', content: 'x', timestamp: 1, wecomMsgType: 'link' } as const;
    expect(JSON.parse(encodeGatewayEvent('plain', base))).toEqual({
      type: 'inbound',
      id: 'm',
      external_user_id: 'u',
      msg_type: 'unknown',
      content: 'x',
      timestamp: 1,
      wecom_msg_type: 'link',
    });
    const rich = richInbound('link', { title: 'T', url: 'https://x', pic_url: 'p' });
    expect(JSON.parse(encodeGatewayEvent('cs', { ...base, ...rich }))).toEqual({
      type: 'cs_inbound',
      platform: 'wecom',
      id: 'm',
      customer_id: 'u',
      msg_type: 'link',
      content: 'x',
      timestamp: 1,
      wecom_msg_type: 'link',
      link: { title: 'T', url: 'https://x', pic_url: 'p' },
    });
  });

  it('richInbound: menu clicks, aliases, media ids dropped, unknown kinds kept whole', () => {
    expect(richInbound('text', { content: 'Yes', menu_id: '7' })).toEqual({ msgType: 'menu', detail: { key: 'menu', fields: { content: 'Yes', menu_id: '7' } } });
    expect(richInbound('channel_shop_order', { order_id: 'o' }).msgType).toBe('channels_shop_order');
    expect(richInbound('miniprogram', { appid: 'a', thumb_media_id: 'x' }).detail.fields).toEqual({ appid: 'a' });
    expect(richInbound('file', { media_id: 'x' }).detail).toEqual({ key: 'file', fields: {} });
    expect(richInbound('warp', { a: 1 })).toEqual({ msgType: 'unknown', detail: { key: 'payload', fields: { a: 1 } } });
  });

  it('session frames in both dialects', () => {
    const status = {
      type: 'session_status',
      id: 'e',
      externalUserId: 'u',
      timestamp: 2,
      changeType: 1,
      change: 'taken_from_pool',
      humanServicing: true,
      newServicerUserId: 's',
    } as const;
    expect(JSON.parse(encodeGatewayEvent('cs', status))).toEqual({
      type: 'cs_session_status',
      platform: 'wecom',
      id: 'e',
      customer_id: 'u',
      timestamp: 2,
      change_type: 1,
      change: 'taken_from_pool',
      human_servicing: true,
      new_servicer_userid: 's',
    });
    const recalled = { type: 'message_recalled', id: 'e', externalUserId: 'u', timestamp: 3, recallMsgid: 'm', by: 'customer' } as const;
    expect(JSON.parse(encodeGatewayEvent('plain', recalled))).toEqual({
      type: 'message_recalled',
      id: 'e',
      external_user_id: 'u',
      timestamp: 3,
      recall_msgid: 'm',
      by: 'customer',
    });
    const rejected = { type: 'customer_rejected', id: 'e', externalUserId: 'u', timestamp: 4, servicerUserId: 's', rejected: false } as const;
    expect(JSON.parse(encodeGatewayEvent('cs', rejected))).toEqual({
      type: 'cs_customer_rejected',
      platform: 'wecom',
      id: 'e',
      customer_id: 'u',
      timestamp: 4,
      servicer_userid: 's',
      rejected: false,
    });
  });
});
