import { createCipheriv, createDecipheriv, hash, randomInt, type Decipher } from 'node:crypto';
import { timingSafeStringEqual } from '../auth/timing-safe-equal.js';

/** Why a WeCom crypto operation was refused. */
export type WecomCryptoErrorCode =
  | 'invalid_aes_key'
  | 'signature_mismatch'
  | 'base64_invalid'
  | 'decrypt_failed'
  | 'bad_padding'
  | 'bad_length'
  | 'receive_id_mismatch';

/** Error thrown by WecomCrypto; `code` is stable, the message is for humans and never contains key material. */
export class WecomCryptoError extends Error {
  /** Stable machine-readable reason. */
  readonly code: WecomCryptoErrorCode;

  constructor(code: WecomCryptoErrorCode, message: string) {
    super(message);
    this.name = 'WecomCryptoError';
    this.code = code;
  }
}

/** Settings of one WeCom callback endpoint. */
export interface WecomCryptoOptions {
  token: string;
  encodingAesKey: string;
  /** The corpid for an enterprise app (or suiteid for a suite); '' disables the receive-id check, as the official Go sample does. */
  receiveId: string;
}

/** WeCom pads to a multiple of 32 bytes, not the AES block size of 16 (reference §1.1). */
const PAD_BLOCK = 32;
const RANDOM_LEN = 16;
const HEADER_LEN = RANDOM_LEN + 4;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** WXBizMsgCrypt: signature, AES-256-CBC with 32-byte PKCS#7, and the random|len|msg|receiveid layout. */
export class WecomCrypto {
  readonly #token: string;
  readonly #key: Buffer;
  readonly #iv: Buffer;
  readonly #receiveId: string;
  /**
   * AES-256 on single blocks, made once and kept; CBC is undone around it (#decryptCbc). At WeCom's pace (tens of
   * callbacks a second) a decipher and a hash made per callback set OpenSSL up cold each time: on the 2-core bench
   * machine a process checking and decrypting one callback 20 times a second spent 560–670 µs of CPU a round that way,
   * 360 µs with this decipher and the one-shot hash (about 280 µs of either is the timer's wake-up alone).
   */
  readonly #blocks: Decipher;

  constructor(opts: WecomCryptoOptions) {
    // Node's base64 decoder silently skips bad characters, so the alphabet is checked before decoding.
    if (!/^[A-Za-z0-9]{43}$/.test(opts.encodingAesKey)) {
      throw new WecomCryptoError('invalid_aes_key', 'EncodingAESKey must be 43 characters of [A-Za-z0-9]');
    }
    const key = Buffer.from(`${opts.encodingAesKey}=`, 'base64');
    if (key.length !== 32) {
      throw new WecomCryptoError('invalid_aes_key', 'EncodingAESKey does not decode to 32 bytes');
    }
    this.#token = opts.token;
    this.#key = key;
    this.#iv = key.subarray(0, 16);
    this.#receiveId = opts.receiveId;
    this.#blocks = blockDecipher(key);
  }

  /** msg_signature: lowercase hex sha1 over the byte-wise sorted concatenation of token, timestamp, nonce, encrypt. */
  signature(timestamp: string, nonce: string, encrypt: string): string {
    const parts = [this.#token, timestamp, nonce, encrypt].map((s) => Buffer.from(s, 'utf8'));
    // Byte order, as the official samples sort; identical to JS string order for the ASCII WeCom sends.
    parts.sort(Buffer.compare);
    return hash('sha1', Buffer.concat(parts), 'hex');
  }

  /** Constant-time check of a msg_signature; hex case is ignored. */
  verifySignature(signature: string, timestamp: string, nonce: string, encrypt: string): boolean {
    return timingSafeStringEqual(signature.toLowerCase(), this.signature(timestamp, nonce, encrypt));
  }

  /** Decrypts an Encrypt/echostr value. Throws WecomCryptoError; checks receiveId when one is configured. */
  decrypt(encrypt: string): { message: string; receiveId: string } {
    if (encrypt.length === 0 || !STRICT_BASE64.test(encrypt)) {
      throw new WecomCryptoError('base64_invalid', 'ciphertext is not valid base64');
    }
    const cipherText = Buffer.from(encrypt, 'base64');
    if (cipherText.length === 0 || cipherText.length % 16 !== 0) {
      throw new WecomCryptoError('decrypt_failed', `ciphertext length ${cipherText.length} is not a multiple of the AES block`);
    }
    let plain: Buffer;
    try {
      plain = this.#decryptCbc(cipherText);
    } catch {
      throw new WecomCryptoError('decrypt_failed', 'AES decryption failed');
    }

    const pad = plain[plain.length - 1] ?? 0;
    if (pad < 1 || pad > PAD_BLOCK || pad > plain.length) {
      throw new WecomCryptoError('bad_padding', `pad byte ${pad} is outside 1..${PAD_BLOCK}`);
    }
    // Every pad byte must match: with CBC a tampered or wrong-key ciphertext garbles the tail, and this catches it
    // before a garbage length is trusted.
    for (let i = plain.length - pad; i < plain.length; i++) {
      if (plain[i] !== pad) throw new WecomCryptoError('bad_padding', 'padding bytes are inconsistent');
    }
    const content = plain.subarray(0, plain.length - pad);
    if (content.length < HEADER_LEN) {
      throw new WecomCryptoError('bad_length', 'plaintext is shorter than the random prefix and length field');
    }
    const msgLen = content.readUInt32BE(RANDOM_LEN);
    if (msgLen > content.length - HEADER_LEN) {
      throw new WecomCryptoError('bad_length', `msg_len ${msgLen} exceeds the ${content.length - HEADER_LEN} bytes present`);
    }
    let message: string;
    let receiveId: string;
    try {
      message = utf8Strict.decode(content.subarray(HEADER_LEN, HEADER_LEN + msgLen));
      receiveId = utf8Strict.decode(content.subarray(HEADER_LEN + msgLen));
    } catch {
      throw new WecomCryptoError('decrypt_failed', 'plaintext is not valid UTF-8');
    }
    if (this.#receiveId !== '' && receiveId !== this.#receiveId) {
      throw new WecomCryptoError('receive_id_mismatch', 'receive id in the plaintext does not match the configured one');
    }
    return { message, receiveId };
  }

  /**
   * AES-256-CBC decryption of whole blocks (no padding removed), on the kept block decipher: each block decrypted alone,
   * then XORed with the ciphertext block before it (the IV for the first), which is what CBC decryption is.
   */
  #decryptCbc(cipherText: Buffer): Buffer {
    // Whole blocks only (the caller checks): without padding, a block decipher then holds nothing back.
    const plain = this.#blocks.update(cipherText);
    for (let i = 0; i < 16; i++) plain[i] = plain[i]! ^ this.#iv[i]!;
    for (let i = 16; i < plain.length; i++) plain[i] = plain[i]! ^ cipherText[i - 16]!;
    return plain;
  }

  /** Encrypts like WeCom: base64 of AES-256-CBC over random|msg_len|msg|receiveId with 32-byte PKCS#7 padding. */
  encrypt(message: string, random?: Buffer): string {
    const prefix = random ?? randomAlnum(RANDOM_LEN);
    if (prefix.length !== RANDOM_LEN) {
      throw new WecomCryptoError('bad_length', `random prefix must be ${RANDOM_LEN} bytes`);
    }
    const msg = Buffer.from(message, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(msg.length);
    const body = Buffer.concat([prefix, len, msg, Buffer.from(this.#receiveId, 'utf8')]);
    const pad = PAD_BLOCK - (body.length % PAD_BLOCK);
    const padded = Buffer.concat([body, Buffer.alloc(pad, pad)]);
    const cipher = createCipheriv('aes-256-cbc', this.#key, this.#iv);
    cipher.setAutoPadding(false);
    return Buffer.concat([cipher.update(padded), cipher.final()]).toString('base64');
  }

  /** URL verification: checks signature over echostr, decrypts, returns the plaintext to echo. Throws WecomCryptoError. */
  verifyUrl(q: { msgSignature: string; timestamp: string; nonce: string; echostr: string }): string {
    let echostr = q.echostr;
    if (!this.verifySignature(q.msgSignature, q.timestamp, q.nonce, echostr)) {
      // A form-style decoder or a proxy that decodes twice turns '+' into ' ' (reference §1.4); base64 never holds a
      // space, so restoring '+' is safe, and the signature still has to match afterwards.
      const restored = echostr.replaceAll(' ', '+');
      if (restored === echostr || !this.verifySignature(q.msgSignature, q.timestamp, q.nonce, restored)) {
        throw new WecomCryptoError('signature_mismatch', 'msg_signature does not match echostr');
      }
      echostr = restored;
    }
    return this.decrypt(echostr).message;
  }

  /** Verifies + decrypts a POST callback's Encrypt value; returns the decrypted XML. Throws WecomCryptoError. */
  openCallback(q: { msgSignature: string; timestamp: string; nonce: string }, encrypt: string): string {
    if (!this.verifySignature(q.msgSignature, q.timestamp, q.nonce, encrypt)) {
      throw new WecomCryptoError('signature_mismatch', 'msg_signature does not match Encrypt');
    }
    return this.decrypt(encrypt).message;
  }

  /** What WeCom does: encrypt + sign; returns what to POST (used by the fake WeCom). */
  sealCallback(message: string, timestamp: string, nonce: string, random?: Buffer): { encrypt: string; msgSignature: string } {
    const encrypt = this.encrypt(message, random);
    return { encrypt, msgSignature: this.signature(timestamp, nonce, encrypt) };
  }
}

/** AES-256 on single blocks: whole blocks in, the same number out at once, nothing held between calls. */
function blockDecipher(key: Buffer): Decipher {
  const decipher = createDecipheriv('aes-256-ecb', key, null);
  decipher.setAutoPadding(false);
  return decipher;
}

/** The official samples use random alphanumeric ASCII for the 16-byte prefix. */
function randomAlnum(n: number): Buffer {
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[randomInt(ALNUM.length)];
  return Buffer.from(s, 'latin1');
}
