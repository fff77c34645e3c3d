import type { SeededRandom } from './seeded-random.js';

/** One hostile WebSocket message: text (a string, or raw bytes sent as a text frame), or a binary frame. */
export interface FuzzFrame {
  kind: string;
  data: string | Buffer;
  /** Send as a binary frame; otherwise a text frame even when `data` holds bytes that are not UTF-8. */
  binary?: boolean;
}

/** Who the fuzzer is, and whose identity and users it tries to take. */
export interface FrameFuzzContext {
  /** The fuzzing gateway's own id (authenticated sockets). */
  gatewayId: string;
  /** A legitimate gateway's id, which the fuzzer must never act for. */
  victimGatewayId: string;
  /** A user bound to the victim, whom the fuzzer must never reach. */
  victimUser: string;
  /** A syntactically valid token that belongs to another gateway id. */
  foreignToken: string;
  /** The relay's shared secret, which deployed relays accepted as any gateway's token (off by default here). */
  relaySecret: string;
}

const ALPHABET = ['a', 'Z', '0', ' ', '"', '\\', '{', '}', '[', ']', ':', ',', '\u0000', '\u001f', '\u2028', 'é', '中', '😀', '\ud800', '<', '&', '%'];

/** Text mixing JSON syntax, control characters, lone surrogates and multi-byte characters. */
export function randomText(random: SeededRandom, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += random.chance(0.5) ? String.fromCharCode(random.int(32, 127)) : random.pick(ALPHABET);
  return out;
}

/** Percent-encodes any text, lone surrogates included (encodeURIComponent throws on those). */
export function percentEncode(text: string): string {
  return encodeURIComponent(text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd'));
}

/** A random JSON value of any type, nested at most `depth` levels. */
export function randomJson(random: SeededRandom, depth: number): unknown {
  const roll = random.int(0, depth > 0 ? 9 : 6);
  switch (roll) {
    case 0:
      return null;
    case 1:
      return random.chance(0.5);
    case 2:
      return random.pick([0, -1, 1.5, 2 ** 53 + 1, -(2 ** 63), 1e308, Number.MIN_VALUE]);
    case 3:
      return randomText(random, random.int(0, 40));
    case 4:
      return '';
    case 5:
      return random.pick(['hello', 'reply', 'cs_reply', 'inbound', '__proto__', 'constructor', 'wecom']);
    case 6:
    case 7: {
      const out: Record<string, unknown> = {};
      const keys = ['type', 'id', 'gateway_id', 'auth_token', 'external_user_id', 'customer_id', 'content', 'delivery_id', '__proto__', 'platform', randomText(random, 5)];
      for (let i = random.int(0, 6); i > 0; i--) out[random.pick(keys)] = randomJson(random, depth - 1);
      return out;
    }
    default:
      return Array.from({ length: random.int(0, 5) }, () => randomJson(random, depth - 1));
  }
}

/** `n` levels of arrays inside an object that otherwise looks like a reply. */
function deeplyNested(n: number): string {
  return `{"type":"reply","id":"deep","content":${'['.repeat(n)}${']'.repeat(n)}}`;
}

/**
 * Frames for an authenticated socket that are expensive or pointed: each is sent once per fuzzing socket.
 * Some of them end the socket by design (ws refuses invalid UTF-8 and frames past its payload cap).
 */
export function pointedFrames(ctx: FrameFuzzContext, random: SeededRandom): FuzzFrame[] {
  const reply = (extra: Record<string, unknown>) => JSON.stringify({ type: 'reply', id: 'fz', external_user_id: ctx.victimUser, content: 'x', ...extra });
  return [
    { kind: 'deep nesting 100k', data: deeplyNested(100_000) },
    { kind: 'deep nesting just past the limit', data: deeplyNested(20) },
    { kind: 'reply 3 MB content', data: JSON.stringify({ type: 'reply', id: 'big', external_user_id: ctx.victimUser, content: 'x'.repeat(3 * 1024 * 1024) }) },
    { kind: 'frame 5 MB', data: JSON.stringify({ type: 'reply', id: 'huge', padding: 'y'.repeat(5 * 1024 * 1024) }) },
    { kind: 'image_reply 2 MB garbage base64', data: JSON.stringify({ type: 'image_reply', id: 'img', external_user_id: ctx.victimUser, image_data: randomText(random, 2000).repeat(1000), image_mime: 'image/png' }) },
    { kind: 'reply to a victim user', data: reply({ content: 'fuzz: hijack attempt' }) },
    { kind: 'cs_reply to a victim user', data: JSON.stringify({ type: 'cs_reply', id: 'fz2', customer_id: ctx.victimUser, content: 'fuzz: hijack attempt', platform: 'wecom' }) },
    { kind: 'unbind_all for the victim', data: JSON.stringify({ type: 'unbind_all', gateway_id: ctx.victimGatewayId }) },
    { kind: 'create_binding for the victim', data: JSON.stringify({ type: 'create_binding', gateway_id: ctx.victimGatewayId }) },
    { kind: 'hello again as the victim', data: JSON.stringify({ type: 'hello', gateway_id: ctx.victimGatewayId, auth_token: ctx.foreignToken }) },
    { kind: 'delivery_ack of ids never sent', data: JSON.stringify({ type: 'delivery_ack', delivery_id: '99999999999999-0' }) },
    { kind: 'delivery_ack garbage', data: JSON.stringify({ type: 'cs_delivery_ack', delivery_id: { $gt: '' } }) },
    { kind: 'prototype keys', data: '{"type":"reply","id":"p","__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"external_user_id":"u","content":"x"}' },
    { kind: 'numbers out of range', data: '{"type":"reply","id":1e999,"external_user_id":-0,"content":123456789012345678901234567890}' },
    { kind: 'duplicate keys', data: '{"type":"reply","type":"hello","id":"d","external_user_id":"u","external_user_id":"v","content":"x"}' },
    { kind: 'binary random bytes', data: random.bytes(4096), binary: true },
    { kind: 'text 9 MB (past the payload cap)', data: 'z'.repeat(9 * 1024 * 1024) },
    { kind: 'invalid UTF-8 text', data: Buffer.from([0x7b, 0xff, 0xfe, 0xc3, 0x28, 0x7d]) },
  ];
}

/** One cheap random frame for an authenticated socket. */
export function randomFrame(ctx: FrameFuzzContext, random: SeededRandom): FuzzFrame {
  const types = ['reply', 'cs_reply', 'image_reply', 'create_binding', 'unbind_all', 'delivery_ack', 'hello', 'cs_hello', 'inbound', 'ack', 'x', ''];
  switch (random.int(0, 6)) {
    case 0:
      return { kind: 'random text', data: randomText(random, random.int(0, 300)) };
    case 1:
      return { kind: 'random bytes', data: random.bytes(random.int(1, 300)), binary: random.chance(0.5) };
    case 2:
      return { kind: 'random JSON', data: JSON.stringify(randomJson(random, 4)) ?? 'null' };
    case 3: {
      const frame = randomJson(random, 3);
      const obj = typeof frame === 'object' && frame !== null && !Array.isArray(frame) ? (frame as Record<string, unknown>) : {};
      return { kind: 'known type, random fields', data: JSON.stringify({ ...obj, type: random.pick(types) }) };
    }
    case 4:
      return {
        kind: 'known type, wrong field types',
        data: JSON.stringify({
          type: random.pick(types),
          id: randomJson(random, 1),
          gateway_id: random.chance(0.5) ? ctx.gatewayId : randomJson(random, 1),
          external_user_id: randomJson(random, 1),
          customer_id: randomJson(random, 1),
          content: randomJson(random, 2),
          delivery_id: randomJson(random, 1),
        }),
      };
    default:
      return { kind: 'truncated JSON', data: JSON.stringify({ type: 'reply', id: 'tr', external_user_id: ctx.victimUser, content: randomText(random, 50) }).slice(0, random.int(1, 40)) };
  }
}

/** First frames of sockets that never authenticated: every one must end with the socket closed, never a hello ack. */
export function unauthenticatedFirstFrames(ctx: FrameFuzzContext, random: SeededRandom): (FuzzFrame | null)[] {
  const hello = (fields: Record<string, unknown>) => JSON.stringify({ type: 'hello', ...fields });
  return [
    null, // says nothing at all: the hello timeout must end it
    { kind: 'garbage text', data: randomText(random, 200) },
    { kind: 'binary', data: random.bytes(512), binary: true },
    { kind: 'empty object', data: '{}' },
    { kind: 'array', data: '[]' },
    { kind: 'null', data: 'null' },
    { kind: 'string', data: '"hello"' },
    { kind: 'reply before hello', data: JSON.stringify({ type: 'reply', id: 'r', external_user_id: ctx.victimUser, content: 'x' }) },
    { kind: 'hello with a zero token', data: hello({ gateway_id: ctx.victimGatewayId, auth_token: '0'.repeat(64) }) },
    { kind: "hello with another gateway's token", data: hello({ gateway_id: ctx.victimGatewayId, auth_token: ctx.foreignToken }) },
    { kind: 'hello with the shared secret', data: JSON.stringify({ type: 'cs_hello', gateway_id: ctx.victimGatewayId, auth_token: ctx.relaySecret }) },
    { kind: 'hello without fields', data: hello({}) },
    { kind: 'hello with object fields', data: hello({ gateway_id: { $ne: null }, auth_token: [] }) },
    { kind: 'hello with a 100k id', data: hello({ gateway_id: 'g'.repeat(100_000), auth_token: 'a' }) },
    { kind: 'hello ack mode, resume garbage', data: hello({ gateway_id: ctx.victimGatewayId, auth_token: ctx.foreignToken, delivery: 'ack', resume_after: '../../etc' }) },
    { kind: 'deep nesting', data: `{"type":"hello","gateway_id":${'['.repeat(50_000)}${']'.repeat(50_000)}}` },
    { kind: 'hello 5 MB', data: hello({ gateway_id: ctx.victimGatewayId, auth_token: 'f'.repeat(5 * 1024 * 1024) }) },
    { kind: 'invalid UTF-8', data: Buffer.from([0xc3, 0x28, 0xa0, 0xa1]) },
  ];
}

/** Query strings for GET/POST /webhook: bad percent-encoding, repeats, huge values, missing parts. */
export function randomQuery(random: SeededRandom): string {
  return random.pick([
    '',
    '?',
    '?%',
    '?%zz=1',
    '?msg_signature=%E0%A4%A&timestamp=1&nonce=2',
    '?msg_signature=a&msg_signature=b&timestamp=1&nonce=2',
    `?msg_signature=${'a'.repeat(8_000)}&timestamp=1&nonce=1`,
    '?&&&==&=',
    `?msg_signature=${percentEncode(randomText(random, 40))}&timestamp=${percentEncode(randomText(random, 10))}&nonce=%00`,
    `?echostr=${percentEncode(randomText(random, 30))}&msg_signature=x&timestamp=1&nonce=1`,
    `?${percentEncode(randomText(random, 60))}`,
    '?timestamp=-1e309&nonce=NaN&msg_signature=__proto__',
  ]);
}

/** Webhook bodies a broken or hostile sender might POST. */
export function randomWebhookBody(random: SeededRandom): string {
  const depth = 2_000;
  return random.pick([
    '',
    randomText(random, random.int(1, 2_000)),
    '<xml><ToUserName><![CDATA[x]]></ToUserName><Encrypt><![CDATA[',
    `<xml>${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}</xml>`,
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><Encrypt>&c;</Encrypt></xml>',
    '{"json":"instead of xml"}',
    '<xml><Encrypt></Encrypt><Encrypt>twice</Encrypt></xml>',
  ]);
}

/** Plaintexts the fake encrypts and signs correctly, so they pass the signature and reach the relay's parser. */
export function randomSignedPlaintext(random: SeededRandom, openKfid: string): string {
  return random.pick([
    randomText(random, random.int(0, 500)),
    '<xml></xml>',
    '<xml><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event></xml>',
    `<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event><Token>${'t'.repeat(4_000)}</Token><OpenKfId>${openKfid}</OpenKfId></xml>`,
    `<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event><Token>forged-token</Token><OpenKfId>${openKfid}</OpenKfId></xml>`,
    '<xml><MsgType>event</MsgType><Event>kf_msg_or_event</Event><OpenKfId>wkSomeoneElse</OpenKfId></xml>',
    `<xml>${'<a>'.repeat(500)}${'</a>'.repeat(500)}</xml>`,
  ]);
}
