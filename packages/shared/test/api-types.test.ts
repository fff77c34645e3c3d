import { describe, expect, it } from 'vitest';
import {
  WECOM_ORIGIN,
  accessTokenResponseSchema,
  addContactWayResponseSchema,
  kfEventSchema,
  kfMessageSchema,
  parseSyncMsgPage,
  mediaUploadResponseSchema,
  sendMsgResponseSchema,
  serviceStateTransResponseSchema,
  syncMsgResponseSchema,
  wecomErrorEnvelopeSchema,
} from '../src/index.js';

const officialItem = {
  msgid: 'from_msgid_4622416642169452483',
  open_kfid: 'wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q',
  external_userid: 'wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw',
  send_time: 1615478585,
  origin: 3,
  servicer_userid: 'Zhangsan',
};

describe('syncMsgResponseSchema', () => {
  it('parses a page with every documented message kind, an unknown kind and events', () => {
    const page = {
      errcode: 0,
      errmsg: 'ok',
      next_cursor: '4gw7MepFLfgF2VC5npN',
      has_more: 1,
      msg_list: [
        { ...officialItem, msgtype: 'text', text: { content: 'hello world', menu_id: '101' } },
        { ...officialItem, msgid: 'm2', msgtype: 'image', image: { media_id: 'IMG' } },
        { ...officialItem, msgid: 'm3', msgtype: 'voice', voice: { media_id: 'VOI' } },
        { ...officialItem, msgid: 'm4', msgtype: 'video', video: { media_id: 'VID' } },
        { ...officialItem, msgid: 'm5', msgtype: 'file', file: { media_id: 'FIL' } },
        { ...officialItem, msgid: 'm6', msgtype: 'location', location: { latitude: 23.1, longitude: 113.3, name: 'Canton Tower', address: 'Guangzhou' } },
        { ...officialItem, msgid: 'm7', msgtype: 'link', link: { title: 't', desc: 'd', url: 'https://e.x', pic_url: 'https://e.x/p' } },
        { ...officialItem, msgid: 'm8', msgtype: 'business_card', business_card: { userid: 'zhang' } },
        { ...officialItem, msgid: 'm9', msgtype: 'miniprogram', miniprogram: { title: 't', appid: 'wx1', pagepath: 'p', thumb_media_id: 'T' } },
        {
          ...officialItem,
          msgid: 'm10',
          msgtype: 'msgmenu',
          msgmenu: { head_content: 'h', list: [{ type: 'click', click: { id: '1', content: 'yes' } }, { type: 'view', view: { url: 'u', content: 'c' } }], tail_content: 't' },
        },
        { ...officialItem, msgid: 'm11', msgtype: 'channels_shop_product', channels_shop_product: { product_id: '9', title: 'mug' } },
        {
          msgid: 'e1',
          send_time: 1615478585,
          origin: 4,
          msgtype: 'event',
          event: {
            event_type: 'enter_session',
            open_kfid: 'wk1',
            external_userid: 'wm1',
            scene: '123',
            scene_param: 'abc',
            welcome_code: 'aaaaaa',
            wechat_channels: { nickname: 'n', scene: 1 },
          },
        },
        { msgid: 'e2', send_time: 1, origin: 4, msgtype: 'event', event: { event_type: 'msg_send_fail', open_kfid: 'wk1', external_userid: 'wm1', fail_msgid: 'f', fail_type: 4 } },
        { msgid: 'e3', send_time: 1, origin: 4, msgtype: 'event', event: { event_type: 'some_future_event', whatever: { nested: true } } },
      ],
    };
    const r = syncMsgResponseSchema.parse(page);
    expect(r.has_more).toBe(1);
    expect(r.next_cursor).toBe('4gw7MepFLfgF2VC5npN');
    expect(r.msg_list.map((m) => m.msgtype)).toEqual([
      'text', 'image', 'voice', 'video', 'file', 'location', 'link', 'business_card', 'miniprogram', 'msgmenu',
      'channels_shop_product', 'event', 'event', 'event',
    ]);
    expect(r.msg_list[0]?.text).toEqual({ content: 'hello world', menu_id: '101' });
    expect(r.msg_list[3]?.video?.media_id).toBe('VID');
    // Unknown kinds keep their payload for a readable summary.
    expect((r.msg_list[10] as Record<string, unknown>).channels_shop_product).toEqual({ product_id: '9', title: 'mug' });
    expect(r.msg_list[11]?.event?.welcome_code).toBe('aaaaaa');
    expect(r.msg_list[11]?.open_kfid).toBeUndefined();
    expect(r.msg_list[12]?.event?.fail_type).toBe(4);
    expect(r.msg_list[13]?.event).toEqual({ event_type: 'some_future_event', whatever: { nested: true } });
  });

  it('an empty page may still say has_more', () => {
    expect(syncMsgResponseSchema.parse({ errcode: 0, errmsg: 'ok', next_cursor: 'c2', has_more: 1, msg_list: [] })).toMatchObject({
      has_more: 1,
      msg_list: [],
    });
  });

  it('fills safe defaults for absent fields but never invents a cursor', () => {
    const r = syncMsgResponseSchema.parse({ errcode: 0, errmsg: 'ok' });
    expect(r).toEqual({ errcode: 0, errmsg: 'ok', has_more: 0, msg_list: [] });
    expect('next_cursor' in r).toBe(false);
  });

  it('refuses items without the fields every message has', () => {
    expect(syncMsgResponseSchema.safeParse({ errcode: 0, has_more: 0, msg_list: [{ msgtype: 'text', text: { content: 'x' } }] }).success).toBe(false);
    expect(syncMsgResponseSchema.safeParse({ errcode: 0, has_more: 2, msg_list: [] }).success).toBe(false);
    expect(kfMessageSchema.safeParse({ ...officialItem, msgtype: 'text', send_time: '1615478585' }).success).toBe(false);
  });
});

describe('kfEventSchema', () => {
  it.each([
    { event_type: 'session_status_change', open_kfid: 'wk', external_userid: 'wm', change_type: 3, old_servicer_userid: 'a', msg_code: 'MSG' },
    { event_type: 'servicer_status_change', servicer_userid: 's', status: 2, stop_type: 1, open_kfid: 'wk' },
    { event_type: 'user_recall_msg', open_kfid: 'wk', external_userid: 'wm', recall_msgid: 'r' },
    { event_type: 'servicer_recall_msg', open_kfid: 'wk', external_userid: 'wm', recall_msgid: 'r', servicer_userid: 's' },
    { event_type: 'reject_customer_msg_switch_change', servicer_userid: 's', open_kfid: 'wk', external_userid: 'wm', reject_switch: 1 },
    { event_type: 'brand_new_kind' },
  ])('parses $event_type', (event) => {
    expect(kfEventSchema.parse(event)).toEqual(event);
  });

  it('requires event_type', () => {
    expect(kfEventSchema.safeParse({ open_kfid: 'wk' }).success).toBe(false);
  });
});

describe('other WeCom answers', () => {
  it('error envelope', () => {
    expect(wecomErrorEnvelopeSchema.parse({ errcode: 95018, errmsg: 'send msg session status invalid, hint: [x]' })).toMatchObject({ errcode: 95018 });
    expect(wecomErrorEnvelopeSchema.parse({ errcode: 40014 })).toEqual({ errcode: 40014, errmsg: '' });
    expect(wecomErrorEnvelopeSchema.safeParse({ errmsg: 'no code' }).success).toBe(false);
  });

  it('gettoken', () => {
    expect(accessTokenResponseSchema.parse({ errcode: 0, errmsg: 'ok', access_token: 'TOKEN', expires_in: 7200 })).toMatchObject({
      access_token: 'TOKEN',
      expires_in: 7200,
    });
    expect(accessTokenResponseSchema.safeParse({ errcode: 40001, errmsg: 'invalid credential' }).success).toBe(false);
  });

  it('send_msg, add_contact_way, service_state/trans', () => {
    expect(sendMsgResponseSchema.parse({ errcode: 0, errmsg: 'ok', msgid: 'MSG_ID' }).msgid).toBe('MSG_ID');
    expect(addContactWayResponseSchema.parse({ errcode: 0, errmsg: 'ok', url: 'https://work.weixin.qq.com/kf/kfcbf8f8d07ac7215f?enc_scene=ENCGFSDF567DF' }).url).toContain(
      'enc_scene=',
    );
    expect(serviceStateTransResponseSchema.parse({ errcode: 0, errmsg: 'ok', msg_code: 'MSG_CODE' }).msg_code).toBe('MSG_CODE');
    expect(serviceStateTransResponseSchema.parse({ errcode: 0, errmsg: 'ok' }).msg_code).toBeUndefined();
  });

  it('media/upload keeps created_at a string even when sent as a number', () => {
    const doc = { errcode: 0, errmsg: '', type: 'image', media_id: '1G6nrLmr5EC3MMb_-zK1dDdzmd0p7cNliYu9V5w7o8K0', created_at: '1380000000' };
    expect(mediaUploadResponseSchema.parse(doc).created_at).toBe('1380000000');
    expect(mediaUploadResponseSchema.parse({ ...doc, created_at: 1380000000 }).created_at).toBe('1380000000');
  });

  it('origin constants', () => {
    expect(WECOM_ORIGIN).toEqual({ CUSTOMER: 3, SYSTEM_EVENT: 4, SERVICER: 5 });
  });
});

describe('parseSyncMsgPage', () => {
  it('keeps the good items and reports the bad ones instead of failing the page', () => {
    const r = parseSyncMsgPage({
      errcode: 0,
      errmsg: 'ok',
      next_cursor: 'c9',
      has_more: 0,
      msg_list: [
        { ...officialItem, msgtype: 'text', text: { content: 'one' } },
        { msgtype: 'text', text: { content: 'no id' } },
        'not even an object',
        { ...officialItem, msgid: 'm3', msgtype: 'text', text: { content: 'three' } },
      ],
    });
    expect(r?.page.next_cursor).toBe('c9');
    expect(r?.page.msg_list.map((m) => m.text?.content)).toEqual(['one', 'three']);
    expect(r?.rejected.map((x) => x.index)).toEqual([1, 2]);
    expect(r?.rejected[0]?.reason).toContain('msgid');
    expect(r?.rejected[1]?.item).toBe('not even an object');
  });

  it('returns null when the page itself is unusable', () => {
    expect(parseSyncMsgPage({ errcode: 0, has_more: 'yes' })).toBeNull();
    expect(parseSyncMsgPage('<html>')).toBeNull();
    expect(parseSyncMsgPage({ errcode: 0, msg_list: {} })).toBeNull();
  });
});
