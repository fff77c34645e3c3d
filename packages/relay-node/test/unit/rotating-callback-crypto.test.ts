import { describe, expect, it } from 'vitest';
import { WecomCrypto, WecomCryptoError } from '@wecom-relay/shared';
import { RotatingCallbackCrypto, type CallbackCredentialUse } from '../../src/http/rotating-callback-crypto.js';

const OLD = { token: 'oldToken', encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C' };
const NEW = { token: 'newToken', encodingAesKey: 'A'.repeat(43) };
const receiveId = 'ww0001';

/** A callback as WeCom signs and encrypts it with the given credentials. */
function callbackFrom(c: { token: string; encodingAesKey: string }) {
  const crypto = new WecomCrypto({ ...c, receiveId });
  const encrypt = crypto.encrypt('<xml><Event>kf_msg_or_event</Event></xml>');
  const q = { timestamp: '1700000000', nonce: 'n1' };
  return { q: { ...q, msgSignature: crypto.signature(q.timestamp, q.nonce, encrypt) }, encrypt };
}

describe('callbacks during a Token / EncodingAESKey change', () => {
  it('accepts the new and, while configured, the previous credentials in any combination, reporting which', () => {
    const used: CallbackCredentialUse[] = [];
    const crypto = new RotatingCallbackCrypto(
      { ...NEW, receiveId, previousToken: OLD.token, previousEncodingAesKey: OLD.encodingAesKey },
      (u) => used.push(u),
    );
    for (const creds of [NEW, OLD, { token: OLD.token, encodingAesKey: NEW.encodingAesKey }, { token: NEW.token, encodingAesKey: OLD.encodingAesKey }]) {
      const { q, encrypt } = callbackFrom(creds);
      expect(crypto.openCallback(q, encrypt)).toContain('kf_msg_or_event');
    }
    expect(used).toEqual([
      { token: 'current', aesKey: 'current' },
      { token: 'previous', aesKey: 'previous' },
      { token: 'previous', aesKey: 'current' },
      { token: 'current', aesKey: 'previous' },
    ]);
  });

  it('refuses the old credentials once they are no longer configured, with the usual crypto error', () => {
    const crypto = new RotatingCallbackCrypto({ ...NEW, receiveId });
    const { q, encrypt } = callbackFrom(OLD);
    expect(() => crypto.openCallback(q, encrypt)).toThrow(WecomCryptoError);
    const stranger = callbackFrom({ token: 'someoneElse', encodingAesKey: 'B'.repeat(43) });
    const rotating = new RotatingCallbackCrypto({ ...NEW, receiveId, previousToken: OLD.token, previousEncodingAesKey: OLD.encodingAesKey });
    expect(() => rotating.openCallback(stranger.q, stranger.encrypt)).toThrow(/signature/);
  });
});
