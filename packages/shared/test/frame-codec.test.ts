import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeGatewayFrame, encodeGatewayEvent, type DecodeResult, type GatewayCommand } from '../src/index.js';

const ok = (text: string) => {
  const r = decodeGatewayFrame(text);
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.message}`);
  return r;
};
const err = (text: string) => {
  const r = decodeGatewayFrame(text);
  if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r.command)}`);
  return r;
};

describe('decodeGatewayFrame: plain dialect', () => {
  const cases: Array<[string, GatewayCommand]> = [
    [
      '{"type":"hello","gateway_id":"gw-1","auth_token":"tok"}',
      { type: 'hello', gatewayId: 'gw-1', authToken: 'tok', delivery: 'legacy', features: [] },
    ],
    [
      '{"type":"hello","gateway_id":"gw-1","auth_token":"tok","delivery":"ack","resume_after":"1700000000000-0"}',
      { type: 'hello', gatewayId: 'gw-1', authToken: 'tok', delivery: 'ack', resumeAfter: '1700000000000-0', features: [] },
    ],
    [
      '{"type":"reply","id":"r-1","external_user_id":"wmAbc","content":"你好"}',
      { type: 'reply', id: 'r-1', externalUserId: 'wmAbc', content: '你好' },
    ],
    [
      '{"type":"image_reply","id":"r-2","external_user_id":"wmAbc","image_data":"iVBORw0KGgo=","image_mime":"image/png"}',
      { type: 'image_reply', id: 'r-2', externalUserId: 'wmAbc', imageData: 'iVBORw0KGgo=', imageMime: 'image/png' },
    ],
    ['{"type":"create_binding","gateway_id":"gw-1"}', { type: 'create_binding', gatewayId: 'gw-1' }],
    ['{"type":"unbind_all","gateway_id":"gw-1"}', { type: 'unbind_all', gatewayId: 'gw-1' }],
    ['{"type":"delivery_ack","delivery_id":"1700000000000-3"}', { type: 'delivery_ack', deliveryId: '1700000000000-3' }],
  ];
  it.each(cases)('%s', (text, command) => {
    expect(decodeGatewayFrame(text)).toEqual({ ok: true, dialect: 'plain', command });
  });

  it('ignores unknown extra fields and treats null optionals as absent', () => {
    expect(ok('{"type":"hello","gateway_id":"g","auth_token":"t","delivery":null,"resume_after":null,"version":"9.1","x":{"y":[1]}}').command).toEqual({
      type: 'hello',
      gatewayId: 'g',
      authToken: 't',
      delivery: 'legacy',
      features: [],
    });
  });
});

describe('decodeGatewayFrame: cs dialect', () => {
  const cases: Array<[string, GatewayCommand]> = [
    [
      '{"type":"cs_hello","platform":"wecom","gateway_id":"gw-1","auth_token":"tok"}',
      { type: 'hello', gatewayId: 'gw-1', authToken: 'tok', delivery: 'legacy', features: [] },
    ],
    [
      '{"type":"cs_hello","gateway_id":"gw-1","auth_token":"tok","delivery":"ack","resume_after":"5-0"}',
      { type: 'hello', gatewayId: 'gw-1', authToken: 'tok', delivery: 'ack', resumeAfter: '5-0', features: [] },
    ],
    [
      '{"type":"cs_reply","platform":"wecom","id":"r-1","customer_id":"wmAbc","content":"hi"}',
      { type: 'reply', id: 'r-1', externalUserId: 'wmAbc', content: 'hi' },
    ],
    [
      '{"type":"cs_image_reply","platform":"wecom","id":"r-2","customer_id":"wmAbc","image_data":"AAAA","image_mime":"image/jpeg"}',
      { type: 'image_reply', id: 'r-2', externalUserId: 'wmAbc', imageData: 'AAAA', imageMime: 'image/jpeg' },
    ],
    ['{"type":"cs_create_binding","platform":"wecom","gateway_id":"gw-1"}', { type: 'create_binding', gatewayId: 'gw-1' }],
    ['{"type":"cs_unbind_all","gateway_id":"gw-1"}', { type: 'unbind_all', gatewayId: 'gw-1' }],
    ['{"type":"cs_delivery_ack","platform":"wecom","delivery_id":"7-0"}', { type: 'delivery_ack', deliveryId: '7-0' }],
  ];
  it.each(cases)('%s', (text, command) => {
    expect(decodeGatewayFrame(text)).toEqual({ ok: true, dialect: 'cs', command });
  });

  it('reads the user from customer_id, never from external_user_id', () => {
    expect(ok('{"type":"cs_reply","id":"r","customer_id":"wmA","external_user_id":"wmB","content":"x"}').command).toMatchObject({
      externalUserId: 'wmA',
    });
    expect(err('{"type":"cs_reply","id":"r","external_user_id":"wmB","content":"x"}')).toEqual({
      ok: false,
      code: 'FRAME_INVALID',
      message: 'cs_reply: customer_id is required',
      requestId: 'r',
      dialect: 'cs',
    });
  });

  it('refuses a platform other than wecom', () => {
    expect(err('{"type":"cs_hello","platform":"feishu","gateway_id":"g","auth_token":"t"}')).toMatchObject({
      code: 'FRAME_INVALID',
      dialect: 'cs',
    });
    expect(err('{"type":"cs_unbind_all","platform":1,"gateway_id":"g"}').message).toContain('platform');
  });
});

describe('decodeGatewayFrame: bad frames', () => {
  it.each(['', 'hello', '{', '{"type":"hello",}', "{'type':'hello'}", 'undefined'])('not JSON: %j', (text) => {
    expect(err(text).code).toBe('FRAME_MALFORMED');
  });

  it.each(['null', '42', '"hello"', 'true', '[]', '[{"type":"hello"}]'])('not an object: %s', (text) => {
    expect(err(text).code).toBe('FRAME_MALFORMED');
  });

  it('a non-text frame is FRAME_MALFORMED, not an exception', () => {
    expect(decodeGatewayFrame(Buffer.from('{"type":"hello"}') as unknown as string)).toMatchObject({ ok: false, code: 'FRAME_MALFORMED' });
  });

  it('refuses deep nesting before parsing it', () => {
    const deep = `{"type":"reply","id":"r","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    expect(err(deep).code).toBe('FRAME_MALFORMED');
    // Brackets inside strings are text, not nesting.
    expect(ok(`{"type":"reply","id":"r","external_user_id":"u","content":"${'[{'.repeat(100)}"}`).command).toMatchObject({
      content: '[{'.repeat(100),
    });
  });

  it('missing, non-string or unknown type is FRAME_UNKNOWN_TYPE and still names the request', () => {
    expect(err('{"id":"r-9"}')).toEqual({ ok: false, code: 'FRAME_UNKNOWN_TYPE', message: 'frame has no type', requestId: 'r-9' });
    expect(err('{"type":7,"id":"r-9"}')).toMatchObject({ code: 'FRAME_UNKNOWN_TYPE', requestId: 'r-9' });
    expect(err('{"type":"inbound","id":"r-9"}')).toMatchObject({ code: 'FRAME_UNKNOWN_TYPE', requestId: 'r-9', dialect: 'plain' });
    expect(err('{"type":"cs_bogus"}')).toMatchObject({ code: 'FRAME_UNKNOWN_TYPE', dialect: 'cs' });
    expect(err('{"type":"cs_"}').code).toBe('FRAME_UNKNOWN_TYPE');
    expect(err('{"type":"HELLO","gateway_id":"g","auth_token":"t"}').code).toBe('FRAME_UNKNOWN_TYPE');
    expect(err('{"type":"__proto__"}').code).toBe('FRAME_UNKNOWN_TYPE');
  });

  it('a non-string id is not reported as the request id', () => {
    expect(err('{"type":"reply","id":12,"external_user_id":"u","content":"x"}')).toEqual({
      ok: false,
      code: 'FRAME_INVALID',
      message: 'reply: id must be a string',
      dialect: 'plain',
    });
  });

  it('schema failures name every bad field', () => {
    const r = err('{"type":"reply","id":"r-1","content":""}');
    expect(r).toMatchObject({ code: 'FRAME_INVALID', requestId: 'r-1', dialect: 'plain' });
    expect(r.message).toBe('reply: external_user_id is required; content must not be empty');
    expect(err('{"type":"hello","gateway_id":"","auth_token":5}').message).toBe(
      'hello: gateway_id must not be empty; auth_token must be a string',
    );
    expect(err('{"type":"hello","gateway_id":"g","auth_token":"t","delivery":"exactly-once"}').message).toContain('delivery');
    expect(err('{"type":"create_binding"}').message).toBe('create_binding: gateway_id is required');
    expect(err('{"type":"unbind_all","gateway_id":["g"]}').message).toBe('unbind_all: gateway_id must be a string');
    expect(err('{"type":"delivery_ack","delivery_id":""}').message).toBe('delivery_ack: delivery_id must not be empty');
    expect(err('{"type":"image_reply","id":"i","external_user_id":"u","image_data":"not base64!","image_mime":"image/png"}').message).toBe(
      'image_reply: image_data must be base64',
    );
  });

  it('ids are capped at 256 characters', () => {
    expect(ok(`{"type":"reply","id":"${'r'.repeat(256)}","external_user_id":"u","content":"x"}`).ok).toBe(true);
    expect(err(`{"type":"reply","id":"${'r'.repeat(257)}","external_user_id":"u","content":"x"}`).message).toContain('id must be at most 256');
    expect(err(`{"type":"cs_reply","id":"r","customer_id":"${'u'.repeat(257)}","content":"x"}`).message).toContain('customer_id');
    expect(err(`{"type":"create_binding","gateway_id":"${'g'.repeat(257)}"}`).code).toBe('FRAME_INVALID');
  });

  it('reply content over 10240 UTF-8 bytes (5 parts of 2048) is CONTENT_TOO_LONG, counted in bytes not characters', () => {
    const frame = (content: string) => JSON.stringify({ type: 'reply', id: 'r-5', external_user_id: 'u', content });
    // Over WeCom's 2048 bytes is accepted: the relay sends it in parts.
    expect(ok(frame('a'.repeat(2049))).ok).toBe(true);
    expect(ok(frame('a'.repeat(10240))).ok).toBe(true);
    expect(err(frame('a'.repeat(10241)))).toEqual({
      ok: false,
      code: 'CONTENT_TOO_LONG',
      message: 'reply: content is 10241 UTF-8 bytes; a reply may have at most 10240 (sent in parts of 2048)',
      requestId: 'r-5',
      dialect: 'plain',
    });
    // 3414 three-byte characters = 10242 bytes, although only 3414 characters.
    expect(err(frame('好'.repeat(3414))).code).toBe('CONTENT_TOO_LONG');
    expect(ok(frame('好'.repeat(3413))).ok).toBe(true);
    expect(err(JSON.stringify({ type: 'cs_reply', id: 'r', customer_id: 'u', content: '😀'.repeat(2561) }))).toMatchObject({
      code: 'CONTENT_TOO_LONG',
      dialect: 'cs',
    });
  });

  it('random garbage never throws', () => {
    const atoms = ['{', '}', '[', ']', '"', ':', ',', '\\', 'type', '"type"', '"cs_reply"', '"hello"', 'null', '1e999', '"id"', ' ', '\u0000', '好'];
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const results: DecodeResult[] = [];
    for (let i = 0; i < 3000; i++) {
      let text = '';
      const n = next() % 40;
      for (let j = 0; j < n; j++) text += atoms[next() % atoms.length];
      results.push(decodeGatewayFrame(text));
      results.push(decodeGatewayFrame(randomBytes(next() % 64).toString('latin1')));
    }
    const values: unknown[] = [null, 1, -1.5, '', 'x', true, [], {}, [1, 'a'], { a: 1 }, 'a'.repeat(300)];
    const keys = ['type', 'id', 'gateway_id', 'auth_token', 'external_user_id', 'customer_id', 'content', 'image_data', 'image_mime', 'delivery', 'resume_after', 'delivery_id', 'platform'];
    const types = ['hello', 'reply', 'image_reply', 'create_binding', 'unbind_all', 'delivery_ack'];
    for (let i = 0; i < 3000; i++) {
      const frame: Record<string, unknown> = { type: (next() % 2 ? 'cs_' : '') + types[next() % types.length] };
      for (const k of keys.slice(1)) if (next() % 2) frame[k] = next() % 3 ? 'v' : values[next() % values.length];
      results.push(decodeGatewayFrame(JSON.stringify(frame)));
    }
    for (const r of results) {
      expect(typeof r.ok).toBe('boolean');
      if (!r.ok) expect(r.message.length).toBeGreaterThan(0);
    }
    expect(results.some((r) => r.ok)).toBe(true);
  });
});

describe('encodeGatewayEvent', () => {
  it('inbound, both dialects, optional fields omitted when undefined', () => {
    const event = {
      type: 'inbound' as const,
      id: 'msg-1',
      externalUserId: 'wmAbc',
      msgType: 'text' as const,
      content: 'hello',
      timestamp: 1700000000,
      wecomMsgType: 'text',
    };
    expect(encodeGatewayEvent('plain', event)).toBe(
      '{"type":"inbound","id":"msg-1","external_user_id":"wmAbc","msg_type":"text","content":"hello","timestamp":1700000000,"wecom_msg_type":"text"}',
    );
    expect(encodeGatewayEvent('cs', event)).toBe(
      '{"type":"cs_inbound","platform":"wecom","id":"msg-1","customer_id":"wmAbc","msg_type":"text","content":"hello","timestamp":1700000000,"wecom_msg_type":"text"}',
    );
    const media = { ...event, msgType: 'image' as const, content: '', wecomMsgType: 'image', mediaData: 'AAAA', mediaMime: 'image/png', deliveryId: '9-0' };
    expect(encodeGatewayEvent('plain', media)).toBe(
      '{"type":"inbound","id":"msg-1","external_user_id":"wmAbc","msg_type":"image","content":"","timestamp":1700000000,"media_data":"AAAA","media_mime":"image/png","wecom_msg_type":"image","delivery_id":"9-0"}',
    );
    expect(encodeGatewayEvent('cs', media)).toBe(
      '{"type":"cs_inbound","platform":"wecom","id":"msg-1","customer_id":"wmAbc","msg_type":"image","content":"","timestamp":1700000000,"media_data":"AAAA","media_mime":"image/png","wecom_msg_type":"image","delivery_id":"9-0"}',
    );
  });

  it('binding_resolved', () => {
    const e = { type: 'binding_resolved' as const, externalUserId: 'wmAbc', gatewayId: 'gw-1' };
    expect(encodeGatewayEvent('plain', e)).toBe('{"type":"binding_resolved","external_user_id":"wmAbc","gateway_id":"gw-1"}');
    expect(encodeGatewayEvent('cs', { ...e, deliveryId: '3-1' })).toBe(
      '{"type":"cs_binding_resolved","platform":"wecom","customer_id":"wmAbc","gateway_id":"gw-1","delivery_id":"3-1"}',
    );
  });

  it('binding_cleared', () => {
    const e = { type: 'binding_cleared' as const, gatewayId: 'gw-1' };
    expect(encodeGatewayEvent('cs', e)).toBe('{"type":"cs_binding_cleared","platform":"wecom","gateway_id":"gw-1"}');
    expect(encodeGatewayEvent('plain', e)).toBe('{"type":"binding_cleared","gateway_id":"gw-1"}');
  });

  it('create_binding_ack', () => {
    const e = { type: 'create_binding_ack' as const, token: '0a1b2c3d', customerServiceUrl: 'https://work.weixin.qq.com/kf/kfc1?enc_scene=X&scene_param=0a1b2c3d' };
    expect(encodeGatewayEvent('plain', e)).toBe(
      '{"type":"create_binding_ack","token":"0a1b2c3d","customer_service_url":"https://work.weixin.qq.com/kf/kfc1?enc_scene=X&scene_param=0a1b2c3d"}',
    );
    expect(encodeGatewayEvent('cs', e)).toBe(
      '{"type":"cs_create_binding_ack","platform":"wecom","token":"0a1b2c3d","customer_service_url":"https://work.weixin.qq.com/kf/kfc1?enc_scene=X&scene_param=0a1b2c3d"}',
    );
  });

  it('ack: command-named ids get the cs prefix, reply ids do not', () => {
    expect(encodeGatewayEvent('plain', { type: 'ack', id: 'hello' })).toBe('{"type":"ack","id":"hello"}');
    expect(encodeGatewayEvent('cs', { type: 'ack', id: 'hello' })).toBe('{"type":"cs_ack","id":"cs_hello"}');
    expect(encodeGatewayEvent('plain', { type: 'ack', id: 'unbind_all' })).toBe('{"type":"ack","id":"unbind_all"}');
    expect(encodeGatewayEvent('cs', { type: 'ack', id: 'unbind_all' })).toBe('{"type":"cs_ack","platform":"wecom","id":"cs_unbind_all"}');
    expect(encodeGatewayEvent('plain', { type: 'ack', id: 'r-1', msgid: 'm-1' })).toBe('{"type":"ack","id":"r-1","msgid":"m-1"}');
    expect(encodeGatewayEvent('cs', { type: 'ack', id: 'r-1', msgid: 'm-1' })).toBe('{"type":"cs_ack","platform":"wecom","id":"r-1","msgid":"m-1"}');
    expect(
      encodeGatewayEvent('plain', {
        type: 'ack',
        id: 'r-2',
        msgid: 'm-1',
        parts: 2,
        partsTotal: 3,
        msgids: ['m-1', 'm-2'],
        unsent: { code: 'SEND_WINDOW_CLOSED', message: 'closed', offset: 4096 },
      }),
    ).toBe(
      '{"type":"ack","id":"r-2","msgid":"m-1","parts":2,"parts_total":3,"msgids":["m-1","m-2"],' +
        '"unsent":{"code":"SEND_WINDOW_CLOSED","message":"closed","offset":4096}}',
    );
  });

  it('error', () => {
    expect(encodeGatewayEvent('plain', { type: 'error', message: 'bad frame', code: 'FRAME_MALFORMED' })).toBe(
      '{"type":"error","message":"bad frame","code":"FRAME_MALFORMED"}',
    );
    const full = { type: 'error' as const, message: 'WeCom refused', code: 'WECOM_REJECTED', id: 'r-1', wecomErrcode: 95018 };
    expect(encodeGatewayEvent('plain', full)).toBe(
      '{"type":"error","message":"WeCom refused","code":"WECOM_REJECTED","id":"r-1","wecom_errcode":95018}',
    );
    expect(encodeGatewayEvent('cs', full)).toBe(
      '{"type":"cs_error","platform":"wecom","message":"WeCom refused","code":"WECOM_REJECTED","id":"r-1","wecom_errcode":95018}',
    );
    expect(encodeGatewayEvent('cs', { type: 'error', message: 'no', code: 'AUTH_FAILED', id: 'hello' })).toBe(
      '{"type":"cs_error","platform":"wecom","message":"no","code":"AUTH_FAILED","id":"cs_hello"}',
    );
  });

  it('inbound with every member: in the frame order, a detail after open_kfid, any detail name a member of its own', () => {
    const event = {
      type: 'inbound' as const,
      id: 'm',
      externalUserId: 'u',
      msgType: 'link' as const,
      content: 'x',
      timestamp: 1,
      wecomMsgType: 'link',
      openKfid: 'wk1',
      mediaError: 'too_large' as const,
      mediaUrl: 'https://r/m',
      mediaUrlExpiresAt: 2,
      detail: { key: 'link', fields: { title: 'T' } },
      customer: { nickname: 'N' },
      deliveryId: '9-0',
    };
    expect(encodeGatewayEvent('cs', event)).toBe(
      '{"type":"cs_inbound","platform":"wecom","id":"m","customer_id":"u","msg_type":"link","content":"x","timestamp":1,' +
        '"media_error":"too_large","media_url":"https://r/m","media_url_expires_at":2,"wecom_msg_type":"link","open_kfid":"wk1",' +
        '"link":{"title":"T"},"customer":{"nickname":"N"},"delivery_id":"9-0"}',
    );
    // WeCom names the detail (its msgtype): one named like a member replaces that member's value where it stands, and
    // `__proto__` is written like any other name rather than changing the frame's prototype.
    expect(encodeGatewayEvent('plain', { ...event, customer: undefined, deliveryId: undefined, detail: { key: 'content', fields: { a: 1 } } })).toBe(
      '{"type":"inbound","id":"m","external_user_id":"u","msg_type":"link","content":{"a":1},"timestamp":1,"media_error":"too_large",' +
        '"media_url":"https://r/m","media_url_expires_at":2,"wecom_msg_type":"link","open_kfid":"wk1"}',
    );
    expect(encodeGatewayEvent('plain', { ...event, detail: { key: '__proto__', fields: { a: 1 } } })).toContain('"open_kfid":"wk1","__proto__":{"a":1},"customer"');
  });

  it('escapes text safely so a decoded reply re-encodes to the same characters', () => {
    const content = 'quote " backslash \\ newline \n emoji 😀 nul \u0000';
    const frame = encodeGatewayEvent('plain', {
      type: 'inbound',
      id: 'm',
      externalUserId: 'u',
      msgType: 'text',
      content,
      timestamp: 1,
      wecomMsgType: 'text',
    });
    expect(JSON.parse(frame).content).toBe(content);
  });
});

describe('opt-in send_failed', () => {
  it('reads features from hello, keeping known ones and ignoring the rest', () => {
    const r = decodeGatewayFrame('{"type":"hello","gateway_id":"g","auth_token":"t","features":["send_failed","future_thing"]}');
    expect(r).toMatchObject({ ok: true, command: { type: 'hello', features: ['send_failed'] } });
    const old = decodeGatewayFrame('{"type":"hello","gateway_id":"g","auth_token":"t"}');
    expect(old).toMatchObject({ ok: true, command: { features: [] } });
  });

  it('encodes send_failed in both dialects', () => {
    const event = { type: 'send_failed', id: 'r1', externalUserId: 'u1', msgid: 'm1', failType: 10, reason: 'user rejected' } as const;
    expect(encodeGatewayEvent('plain', event)).toBe(
      '{"type":"send_failed","id":"r1","external_user_id":"u1","msgid":"m1","fail_type":10,"reason":"user rejected"}',
    );
    expect(encodeGatewayEvent('cs', event)).toBe(
      '{"type":"cs_send_failed","platform":"wecom","id":"r1","customer_id":"u1","msgid":"m1","fail_type":10,"reason":"user rejected"}',
    );
  });
});

