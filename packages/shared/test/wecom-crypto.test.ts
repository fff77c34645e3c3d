import { createCipheriv, createDecipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WecomCrypto, WecomCryptoError, type WecomCryptoErrorCode } from '../src/index.js';

// Vector A: the official WXBizMsgCrypt sample (reference §1.6).
const A = {
  token: 'QDG6eK',
  receiveId: 'wx5823bf96d3bd56c7',
  encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  aesKeyHex: '8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760',
};
const A1 = {
  msgSignature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
  timestamp: '1409659589',
  nonce: '263014780',
  echostr: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
  echostrOnWire: 'P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D',
};
const A2 = {
  msgSignature: '477715d11cdb4164915debcba66cb864d751f3e6',
  timestamp: '1409659813',
  nonce: '1372623149',
  encrypt:
    'RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==',
  plaintext:
    '<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>',
};

// Vector C: wechatpy's deterministic tests.
const C = { token: '123456', encodingAesKey: 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR', receiveId: 'wx49f0ab532d5d035a' };
const C1 = {
  signature: 'dd6b9c95b495b3f7e2901bfbc76c664930ffdb96',
  timestamp: '1411443780',
  nonce: '437374425',
  echostr: '4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==',
};
const C2 = {
  random: '1234567890123456',
  nonce: '461056294',
  timestamp: '1411525903',
  plaintext:
    '<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>',
  encrypt:
    '9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3',
  msgSignature: '407518b7649e86ef23978113f92d27afa9296533',
};
const C3 = {
  signature: '74d92dfeb87ba7c714f89d98870ae5eb62dff26d',
  timestamp: '1411525903',
  nonce: '461056294',
  encrypt:
    'RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=',
  plaintext:
    '<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>',
};

const cryptoA = () => new WecomCrypto(A);
const aesKey = Buffer.from(A.aesKeyHex, 'hex');

/** Raw AES-256-CBC without any padding logic, so tests can build plaintexts the library would never produce. */
function rawEncrypt(plain: Buffer): string {
  const cipher = createCipheriv('aes-256-cbc', aesKey, aesKey.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
}

function rawDecrypt(b64: string): Buffer {
  const decipher = createDecipheriv('aes-256-cbc', aesKey, aesKey.subarray(0, 16));
  decipher.setAutoPadding(false);
  return Buffer.concat([decipher.update(Buffer.from(b64, 'base64')), decipher.final()]);
}

/** random(16) | msg_len | msg | receiveId, then `tail` appended as the "padding". */
function layout(msgLen: number, msg: Buffer, receiveId: string, tail: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msgLen);
  return Buffer.concat([Buffer.from('abcdefghijklmnop'), len, msg, Buffer.from(receiveId), tail]);
}

function codeOf(fn: () => unknown): WecomCryptoErrorCode | 'no error' {
  try {
    fn();
  } catch (err) {
    if (err instanceof WecomCryptoError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('WecomCrypto public vectors', () => {
  it('A1: URL verification returns the echo and re-encrypting with the known random reproduces echostr', () => {
    const c = cryptoA();
    expect(c.verifyUrl(A1)).toBe('1616140317555161061');
    expect(decodeURIComponent(A1.echostrOnWire)).toBe(A1.echostr);
    expect(c.encrypt('1616140317555161061', Buffer.from('c41b64491c2468d0'))).toBe(A1.echostr);
  });

  it('A1: accepts an echostr whose + signs a proxy turned into spaces', () => {
    expect(cryptoA().verifyUrl({ ...A1, echostr: A1.echostr.replaceAll('+', ' ') })).toBe('1616140317555161061');
  });

  it('A2: POST callback decrypts (pad 30) and re-encrypts byte for byte', () => {
    const c = cryptoA();
    const q = { msgSignature: A2.msgSignature, timestamp: A2.timestamp, nonce: A2.nonce };
    expect(c.openCallback(q, A2.encrypt)).toBe(A2.plaintext);
    expect(c.decrypt(A2.encrypt)).toEqual({ message: A2.plaintext, receiveId: A.receiveId });
    expect(Buffer.byteLength(A2.plaintext)).toBe(284);
    const plain = rawDecrypt(A2.encrypt);
    expect(plain.length).toBe(352);
    expect(plain[plain.length - 1]).toBe(30);
    expect(c.encrypt(A2.plaintext, Buffer.from('0960688932c47ef1'))).toBe(A2.encrypt);
    expect(c.sealCallback(A2.plaintext, A2.timestamp, A2.nonce, Buffer.from('0960688932c47ef1'))).toEqual({
      encrypt: A2.encrypt,
      msgSignature: A2.msgSignature,
    });
  });

  it('C1: signature matches, and one digit off in the nonce fails', () => {
    const c = new WecomCrypto(C);
    expect(c.signature(C1.timestamp, C1.nonce, C1.echostr)).toBe(C1.signature);
    expect(c.verifySignature(C1.signature, C1.timestamp, C1.nonce, C1.echostr)).toBe(true);
    expect(c.verifySignature(C1.signature.toUpperCase(), C1.timestamp, C1.nonce, C1.echostr)).toBe(true);
    expect(c.verifySignature(C1.signature, C1.timestamp, '437374424', C1.echostr)).toBe(false);
    expect(c.verifyUrl({ msgSignature: C1.signature, timestamp: C1.timestamp, nonce: C1.nonce, echostr: C1.echostr })).toBe(
      '5927782489442352469',
    );
    expect(
      codeOf(() => c.verifyUrl({ msgSignature: C1.signature, timestamp: C1.timestamp, nonce: '437374424', echostr: C1.echostr })),
    ).toBe('signature_mismatch');
  });

  it('C2: encrypt with a fixed random gives the exact Encrypt and MsgSignature', () => {
    const c = new WecomCrypto(C);
    expect(c.encrypt(C2.plaintext, Buffer.from(C2.random))).toBe(C2.encrypt);
    expect(c.sealCallback(C2.plaintext, C2.timestamp, C2.nonce, Buffer.from(C2.random))).toEqual({
      encrypt: C2.encrypt,
      msgSignature: C2.msgSignature,
    });
  });

  it('C3: decrypts a callback whose pad byte is 1', () => {
    const c = new WecomCrypto(C);
    expect(c.openCallback({ msgSignature: C3.signature, timestamp: C3.timestamp, nonce: C3.nonce }, C3.encrypt)).toBe(C3.plaintext);
  });
});

describe('WecomCrypto rejects bad input with a stable code', () => {
  it('rejects keys that are not 43 alphanumerics', () => {
    expect(codeOf(() => new WecomCrypto({ ...A, encodingAesKey: A.encodingAesKey.slice(0, 42) }))).toBe('invalid_aes_key');
    expect(codeOf(() => new WecomCrypto({ ...A, encodingAesKey: `${A.encodingAesKey}x` }))).toBe('invalid_aes_key');
    expect(codeOf(() => new WecomCrypto({ ...A, encodingAesKey: `${A.encodingAesKey.slice(0, 42)}+` }))).toBe('invalid_aes_key');
    expect(codeOf(() => new WecomCrypto({ ...A, encodingAesKey: '' }))).toBe('invalid_aes_key');
  });

  it('rejects a tampered ciphertext', () => {
    const bytes = Buffer.from(A2.encrypt, 'base64');
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0x01;
    const tampered = bytes.toString('base64');
    const c = cryptoA();
    // The flipped bit lands in the padding of the next block, so the padding check catches it.
    expect(codeOf(() => c.decrypt(tampered))).toBe('bad_padding');
    const q = { msgSignature: A2.msgSignature, timestamp: A2.timestamp, nonce: A2.nonce };
    expect(codeOf(() => c.openCallback(q, tampered))).toBe('signature_mismatch');
  });

  it('checks the receive id only when one is configured', () => {
    expect(codeOf(() => new WecomCrypto({ ...A, receiveId: 'ww_other_corp' }).decrypt(A2.encrypt))).toBe('receive_id_mismatch');
    expect(new WecomCrypto({ ...A, receiveId: '' }).decrypt(A2.encrypt).receiveId).toBe(A.receiveId);
  });

  it('rejects text that is not base64', () => {
    const c = cryptoA();
    expect(codeOf(() => c.decrypt(''))).toBe('base64_invalid');
    expect(codeOf(() => c.decrypt('not base64!'))).toBe('base64_invalid');
    expect(codeOf(() => c.decrypt(A2.encrypt.slice(1)))).toBe('base64_invalid');
    expect(codeOf(() => c.decrypt(A1.echostr.replaceAll('+', ' ')))).toBe('base64_invalid');
  });

  it('rejects a ciphertext that is not a whole number of AES blocks', () => {
    expect(codeOf(() => cryptoA().decrypt(Buffer.alloc(20).toString('base64')))).toBe('decrypt_failed');
  });

  it('rejects pad bytes 0 and 33 and inconsistent padding', () => {
    const c = cryptoA();
    const msg = Buffer.from('hello');
    const base = layout(msg.length, msg, A.receiveId, Buffer.alloc(0)); // 43 bytes
    const fill = (n: number, byte: number) => Buffer.alloc(n, byte);
    // 43 + 21 = 64 bytes, last byte 0.
    expect(codeOf(() => c.decrypt(rawEncrypt(Buffer.concat([base, fill(21, 0)]))))).toBe('bad_padding');
    // 43 + 53 = 96 bytes, all pad bytes 33.
    expect(codeOf(() => c.decrypt(rawEncrypt(Buffer.concat([base, fill(53, 33)]))))).toBe('bad_padding');
    // Correct last byte (21) but one earlier pad byte differs.
    const mixed = Buffer.concat([base, fill(21, 21)]);
    mixed[50] = 7;
    expect(codeOf(() => c.decrypt(rawEncrypt(mixed)))).toBe('bad_padding');
    // The same layout with correct padding decrypts, so the cases above fail for the padding alone.
    expect(c.decrypt(rawEncrypt(Buffer.concat([base, fill(21, 21)])))).toEqual({ message: 'hello', receiveId: A.receiveId });
  });

  it('rejects msg_len pointing beyond the buffer', () => {
    const c = cryptoA();
    const msg = Buffer.from('hello');
    const plain = layout(msg.length + A.receiveId.length + 1, msg, A.receiveId, Buffer.alloc(21, 21));
    expect(codeOf(() => c.decrypt(rawEncrypt(plain)))).toBe('bad_length');
    const huge = layout(0xffffffff, msg, A.receiveId, Buffer.alloc(21, 21));
    expect(codeOf(() => c.decrypt(rawEncrypt(huge)))).toBe('bad_length');
  });

  it('rejects a plaintext too short to hold the header', () => {
    expect(codeOf(() => cryptoA().decrypt(rawEncrypt(Buffer.concat([Buffer.from('0123456789'), Buffer.alloc(22, 22)]))))).toBe(
      'bad_length',
    );
  });

  it('refuses a random prefix that is not 16 bytes', () => {
    expect(codeOf(() => cryptoA().encrypt('x', Buffer.from('short')))).toBe('bad_length');
  });
});

describe('WecomCrypto roundtrips', () => {
  it('counts msg_len in UTF-8 bytes for Chinese text', () => {
    const c = cryptoA();
    const text = '<xml><Content><![CDATA[你好，世界 🌏]]></Content></xml>';
    const enc = c.encrypt(text);
    const plain = rawDecrypt(enc);
    expect(plain.readUInt32BE(16)).toBe(Buffer.byteLength(text, 'utf8'));
    expect(plain.readUInt32BE(16)).toBeGreaterThan(text.length);
    expect(c.decrypt(enc)).toEqual({ message: text, receiveId: A.receiveId });
  });

  it('pads to a multiple of 32 and uses a fresh alphanumeric random each time', () => {
    const c = cryptoA();
    for (const len of [0, 1, 11, 12, 13, 44, 45, 100]) {
      const msg = 'x'.repeat(len);
      const enc = c.encrypt(msg);
      const plain = rawDecrypt(enc);
      expect(plain.length % 32).toBe(0);
      expect(plain.subarray(0, 16).toString('latin1')).toMatch(/^[A-Za-z0-9]{16}$/);
      expect(c.decrypt(enc).message).toBe(msg);
    }
    expect(c.encrypt('same')).not.toBe(c.encrypt('same'));
  });

  it('one instance opens callback after callback: nothing of one decryption carries into the next', () => {
    // The block decipher is kept between calls; a refusal, a tampered ciphertext or another message before must not
    // shift or chain into the next one.
    const c = cryptoA();
    const tampered = Buffer.from(A2.encrypt, 'base64');
    tampered[tampered.length - 20] = (tampered[tampered.length - 20] ?? 0) ^ 0x01;
    const sealed = c.encrypt('<xml>second</xml>');
    for (let round = 0; round < 3; round++) {
      expect(c.decrypt(A2.encrypt).message).toBe(A2.plaintext);
      expect(codeOf(() => c.decrypt(A2.encrypt.slice(0, 20)))).toBe('decrypt_failed');
      expect(codeOf(() => c.decrypt(tampered.toString('base64')))).toBe('bad_padding');
      expect(c.decrypt(sealed).message).toBe('<xml>second</xml>');
      expect(c.decrypt(A1.echostr).message).toBe('1616140317555161061');
    }
  });

  it('a sealed callback opens with the same settings', () => {
    const c = new WecomCrypto(C);
    const sealed = c.sealCallback('<xml>hi</xml>', '1700000000', 'abc');
    expect(c.openCallback({ msgSignature: sealed.msgSignature, timestamp: '1700000000', nonce: 'abc' }, sealed.encrypt)).toBe(
      '<xml>hi</xml>',
    );
  });
});
