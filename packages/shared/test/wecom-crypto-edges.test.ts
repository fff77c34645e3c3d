import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WecomCrypto, WecomCryptoError, type WecomCryptoErrorCode } from '../src/index.js';

// Vector C's key (wechatpy's deterministic tests); the plaintexts below are built by hand around it.
const KEY = 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR';
const AES = Buffer.from(`${KEY}=`, 'base64');

/** Encrypts raw plaintext bytes (already a multiple of 16) the way WeCom would, with no padding added. */
function sealRaw(plain: Buffer): string {
  const cipher = createCipheriv('aes-256-cbc', AES, AES.subarray(0, 16));
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
}

/** random(16) | msg_len | msg | receiveId, padded to 32 with the pad byte as WeCom does. */
function layout(msg: Buffer, receiveId = ''): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msg.length);
  const body = Buffer.concat([Buffer.from('0123456789abcdef'), len, msg, Buffer.from(receiveId)]);
  const pad = 32 - (body.length % 32);
  return Buffer.concat([body, Buffer.alloc(pad, pad)]);
}

/** The call throws a WecomCryptoError with this code and a message a human can act on. */
function expectCryptoError(fn: () => unknown, code: WecomCryptoErrorCode, message?: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(WecomCryptoError);
  const err = thrown as WecomCryptoError;
  expect(err.code).toBe(code);
  expect(err.name).toBe('WecomCryptoError');
  expect(err.message.length).toBeGreaterThan(10);
  if (message) expect(err.message).toMatch(message);
}

const noReceiver = new WecomCrypto({ token: 't', encodingAesKey: KEY, receiveId: '' });
const withReceiver = new WecomCrypto({ token: 't', encodingAesKey: KEY, receiveId: 'ww-corp' });

describe('WecomCrypto edges: every refusal has its code and a readable message', () => {
  it('an EncodingAESKey must be exactly 43 alphanumerics (no prefix, no suffix)', () => {
    expectCryptoError(() => new WecomCrypto({ token: 't', encodingAesKey: `${KEY}A`, receiveId: '' }), 'invalid_aes_key', /43 characters/);
    expectCryptoError(() => new WecomCrypto({ token: 't', encodingAesKey: `!${KEY}`, receiveId: '' }), 'invalid_aes_key');
    expectCryptoError(() => new WecomCrypto({ token: 't', encodingAesKey: `${KEY.slice(1)}!`, receiveId: '' }), 'invalid_aes_key');
  });

  it('refuses ciphertext that is not whole AES blocks, and non-base64', () => {
    expectCryptoError(() => noReceiver.decrypt('AAAA'), 'decrypt_failed', /ciphertext length 3 is not a multiple/);
    expectCryptoError(() => noReceiver.decrypt(Buffer.alloc(17).toString('base64')), 'decrypt_failed', /length 17 /);
    expectCryptoError(() => noReceiver.decrypt('@@@@'), 'base64_invalid');
  });

  it('padding: a full block of 32 pad bytes is valid; pad bytes that do not match are refused', () => {
    // 16 + 4 + 12 = 32 bytes of body: WeCom adds a whole 32-byte block of 0x20.
    const message = 'twelve bytes';
    const sealed = noReceiver.encrypt(message);
    expect(Buffer.from(sealed, 'base64')).toHaveLength(64);
    expect(noReceiver.decrypt(sealed)).toEqual({ message, receiveId: '' });
    const bad = layout(Buffer.from('hi'));
    bad[bad.length - 2] = 0;
    expectCryptoError(() => noReceiver.decrypt(sealRaw(bad)), 'bad_padding');
    expectCryptoError(() => noReceiver.decrypt(sealRaw(Buffer.alloc(32, 0))), 'bad_padding');
    expectCryptoError(() => noReceiver.decrypt(sealRaw(Buffer.alloc(32, 33))), 'bad_padding');
  });

  it('a block that is all padding leaves no header: bad_length, not bad_padding', () => {
    expectCryptoError(() => noReceiver.decrypt(sealRaw(Buffer.alloc(16, 16))), 'bad_length');
  });

  it('an empty message with no receive id (header exactly, msg_len 0) decrypts to empty strings', () => {
    expect(noReceiver.decrypt(sealRaw(layout(Buffer.alloc(0))))).toEqual({ message: '', receiveId: '' });
    expectCryptoError(() => withReceiver.decrypt(sealRaw(layout(Buffer.alloc(0)))), 'receive_id_mismatch');
    expect(withReceiver.decrypt(sealRaw(layout(Buffer.from('x'), 'ww-corp')))).toEqual({ message: 'x', receiveId: 'ww-corp' });
  });

  it('a msg_len beyond the bytes present is bad_length', () => {
    const plain = layout(Buffer.from('abc'));
    plain.writeUInt32BE(4 + 32, 16);
    // 23 bytes before the padding: 3 after the 20-byte header, of which msg_len claims 36.
    expectCryptoError(() => noReceiver.decrypt(sealRaw(plain)), 'bad_length', /msg_len 36 exceeds the 3 bytes present/);
  });

  it('a message that is not valid UTF-8 is refused rather than garbled', () => {
    expectCryptoError(() => noReceiver.decrypt(sealRaw(layout(Buffer.from([0xff, 0xfe, 0x41])))), 'decrypt_failed');
  });

  it('a random prefix must be 16 bytes; signatures mismatch with a readable message', () => {
    expectCryptoError(() => noReceiver.encrypt('x', Buffer.alloc(15)), 'bad_length');
    expectCryptoError(() => noReceiver.openCallback({ msgSignature: 'x', timestamp: '1', nonce: 'n' }, noReceiver.encrypt('x')), 'signature_mismatch');
    expectCryptoError(() => noReceiver.verifyUrl({ msgSignature: 'x', timestamp: '1', nonce: 'n', echostr: noReceiver.encrypt('x') }), 'signature_mismatch');
  });
});
