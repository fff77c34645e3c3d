import { describe, expect, it } from 'vitest';
import {
  WecomCrypto,
  WecomXmlError,
  buildCallbackEnvelope,
  buildKfCallbackEvent,
  parseCallbackEnvelope,
  parseKfCallbackEvent,
  type WecomXmlErrorCode,
} from '../src/index.js';

const A2_ENCRYPT =
  'RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==';
const A2_BODY = `<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[${A2_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>`;

function codeOf(fn: () => unknown): WecomXmlErrorCode | 'no error' {
  try {
    fn();
  } catch (err) {
    if (err instanceof WecomXmlError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('parseCallbackEnvelope', () => {
  it('reads the official sample POST body (vector A2), which then opens', () => {
    const env = parseCallbackEnvelope(A2_BODY);
    expect(env).toEqual({ encrypt: A2_ENCRYPT, toUserName: 'wx5823bf96d3bd56c7', agentId: '218' });
    const crypto = new WecomCrypto({ token: 'QDG6eK', encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C', receiveId: 'wx5823bf96d3bd56c7' });
    const q = { msgSignature: '477715d11cdb4164915debcba66cb864d751f3e6', timestamp: '1409659813', nonce: '1372623149' };
    expect(crypto.openCallback(q, env.encrypt)).toContain('<Content><![CDATA[hello]]></Content>');
  });

  it('takes plain text as well as CDATA, with a declaration and whitespace around', () => {
    const body = `<?xml version="1.0" encoding="UTF-8"?>\n<xml>\n  <ToUserName>ww123</ToUserName>\n  <Encrypt>${A2_ENCRYPT}</Encrypt>\n</xml>\n`;
    expect(parseCallbackEnvelope(body)).toEqual({ encrypt: A2_ENCRYPT, toUserName: 'ww123' });
  });

  it('only Encrypt is required; an empty AgentID is treated as absent', () => {
    expect(parseCallbackEnvelope('<xml><Encrypt><![CDATA[abc=]]></Encrypt><AgentID></AgentID></xml>')).toEqual({ encrypt: 'abc=' });
  });

  it('missing or empty Encrypt is xml_missing_field', () => {
    expect(codeOf(() => parseCallbackEnvelope('<xml><ToUserName>ww</ToUserName></xml>'))).toBe('xml_missing_field');
    expect(codeOf(() => parseCallbackEnvelope('<xml><Encrypt><![CDATA[]]></Encrypt></xml>'))).toBe('xml_missing_field');
    expect(codeOf(() => parseCallbackEnvelope('<xml></xml>'))).toBe('xml_malformed');
  });

  it('a repeated or structured Encrypt is refused rather than guessed at', () => {
    expect(codeOf(() => parseCallbackEnvelope('<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>'))).toBe('xml_malformed');
    expect(codeOf(() => parseCallbackEnvelope('<xml><Encrypt><x>a</x></Encrypt></xml>'))).toBe('xml_malformed');
  });

  it('billion-laughs DOCTYPE is xml_forbidden', () => {
    const lol = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><Encrypt>&lol3;</Encrypt></xml>`;
    expect(codeOf(() => parseCallbackEnvelope(lol))).toBe('xml_forbidden');
    expect(codeOf(() => parseCallbackEnvelope('<!doctype xml SYSTEM "file:///etc/passwd"><xml><Encrypt>a</Encrypt></xml>'))).toBe(
      'xml_forbidden',
    );
  });

  it('entities are left as written, never expanded', () => {
    expect(parseCallbackEnvelope('<xml><Encrypt>a&amp;b&#65;</Encrypt></xml>').encrypt).toBe('a&amp;b&#65;');
  });

  it('huge nesting is xml_forbidden', () => {
    const deep = `<xml><Encrypt>a</Encrypt>${'<a>'.repeat(50_000)}${'</a>'.repeat(50_000)}</xml>`;
    expect(codeOf(() => parseCallbackEnvelope(deep))).toBe('xml_forbidden');
    expect(codeOf(() => parseCallbackEnvelope(`<xml>${'x'.repeat(1024 * 1024)}</xml>`))).toBe('xml_forbidden');
  });

  it.each([
    '',
    'hello',
    '{"encrypt":"abc"}',
    '<xml><Encrypt>abc</Encrypt>',
    '<xml><Encrypt>abc</xml></Encrypt>',
    '<root><Encrypt>abc</Encrypt></root>',
    '<xml><Encrypt>a</Encrypt></xml><xml><Encrypt>b</Encrypt></xml>',
    '<xml><__proto__>x</__proto__><Encrypt>a</Encrypt></xml>',
    '\u0000\u0001<<<>>>',
  ])('garbage is xml_malformed: %j', (body) => {
    expect(codeOf(() => parseCallbackEnvelope(body))).toBe('xml_malformed');
  });
});

describe('buildCallbackEnvelope', () => {
  it('builds what WeCom sends, byte for byte as in the official sample', () => {
    expect(buildCallbackEnvelope({ toUserName: 'wx5823bf96d3bd56c7', encrypt: A2_ENCRYPT, agentId: '218' })).toBe(A2_BODY);
    expect(buildCallbackEnvelope({ toUserName: 'ww1', encrypt: 'e' })).toBe(
      '<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[e]]></Encrypt></xml>',
    );
  });

  it('roundtrips values that contain ]]>', () => {
    const env = buildCallbackEnvelope({ toUserName: 'a]]>b', encrypt: 'x', agentId: '<1>' });
    expect(parseCallbackEnvelope(env)).toEqual({ encrypt: 'x', toUserName: 'a]]>b', agentId: '<1>' });
  });
});

describe('kf callback event', () => {
  it('parses the official example', () => {
    const xml = `<xml>
  <ToUserName><![CDATA[ww12345678910]]></ToUserName>
  <CreateTime>1348831860</CreateTime>
  <MsgType><![CDATA[event]]></MsgType>
  <Event><![CDATA[kf_msg_or_event]]></Event>
  <Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token>
  <OpenKfId><![CDATA[wkxxxxxxx]]></OpenKfId>
</xml>`;
    expect(parseKfCallbackEvent(xml)).toEqual({
      toUserName: 'ww12345678910',
      createTime: '1348831860',
      msgType: 'event',
      event: 'kf_msg_or_event',
      token: 'ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR',
      openKfid: 'wkxxxxxxx',
    });
  });

  it('accepts the older form without Token and OpenKfId', () => {
    const xml =
      '<xml><ToUserName>ww1</ToUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>kf_msg_or_event</Event></xml>';
    expect(parseKfCallbackEvent(xml)).toEqual({ toUserName: 'ww1', createTime: '1', msgType: 'event', event: 'kf_msg_or_event' });
  });

  it('returns other callbacks as they are, so the caller can ignore them', () => {
    const xml =
      '<xml><ToUserName>ww1</ToUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Event>other</Event><Content>x</Content></xml>';
    expect(parseKfCallbackEvent(xml)).toMatchObject({ msgType: 'text', event: 'other' });
  });

  it('missing required fields are xml_missing_field', () => {
    expect(codeOf(() => parseKfCallbackEvent('<xml><ToUserName>ww1</ToUserName><CreateTime>1</CreateTime><MsgType>event</MsgType></xml>'))).toBe(
      'xml_missing_field',
    );
    expect(codeOf(() => parseKfCallbackEvent('<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event></xml>'))).toBe('xml_missing_field');
  });

  it('the builder output parses back to the same values and survives encryption', () => {
    const xml = buildKfCallbackEvent({ toUserName: 'ww_corp', createTime: 1700000000, token: 'ENC]]>tok', openKfid: 'wk_1' });
    expect(xml).toBe(
      '<xml><ToUserName><![CDATA[ww_corp]]></ToUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[ENC]]]]><![CDATA[>tok]]></Token><OpenKfId><![CDATA[wk_1]]></OpenKfId></xml>',
    );
    const crypto = new WecomCrypto({ token: 't', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR', receiveId: 'ww_corp' });
    const sealed = crypto.sealCallback(xml, '1700000000', 'n1');
    const body = buildCallbackEnvelope({ toUserName: 'ww_corp', encrypt: sealed.encrypt });
    const opened = crypto.openCallback({ msgSignature: sealed.msgSignature, timestamp: '1700000000', nonce: 'n1' }, parseCallbackEnvelope(body).encrypt);
    expect(parseKfCallbackEvent(opened)).toEqual({
      toUserName: 'ww_corp',
      createTime: '1700000000',
      msgType: 'event',
      event: 'kf_msg_or_event',
      token: 'ENC]]>tok',
      openKfid: 'wk_1',
    });
  });
});
