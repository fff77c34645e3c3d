import { WecomCrypto, WecomCryptoError } from '@wecom-relay/shared';

/** Which of the configured callback credentials verified a request. */
export interface CallbackCredentialUse {
  token: 'current' | 'previous';
  aesKey: 'current' | 'previous';
}

/** The callback Token and EncodingAESKey, each with the value being retired during a change in WeCom's console. */
export interface CallbackCredentials {
  token: string;
  encodingAesKey: string;
  receiveId: string;
  previousToken?: string | undefined;
  previousEncodingAesKey?: string | undefined;
}

/**
 * WeCom's callback crypto accepting the previous Token and/or EncodingAESKey too, so a change made in the admin
 * console (which WeCom applies at once) does not refuse callbacks on nodes not yet restarted with the new values,
 * and nodes already restarted still accept callbacks signed with the old ones. Current values are tried first; when
 * nothing verifies, the current credentials' error is the one reported.
 */
export class RotatingCallbackCrypto {
  private readonly candidates: Array<{ use: CallbackCredentialUse; crypto: WecomCrypto }> = [];

  constructor(c: CallbackCredentials, private readonly onUse?: (use: CallbackCredentialUse) => void) {
    const tokens: Array<[CallbackCredentialUse['token'], string]> = [['current', c.token]];
    if (c.previousToken) tokens.push(['previous', c.previousToken]);
    const keys: Array<[CallbackCredentialUse['aesKey'], string]> = [['current', c.encodingAesKey]];
    if (c.previousEncodingAesKey) keys.push(['previous', c.previousEncodingAesKey]);
    for (const [aesKey, key] of keys) {
      for (const [token, value] of tokens) {
        this.candidates.push({ use: { token, aesKey }, crypto: new WecomCrypto({ token: value, encodingAesKey: key, receiveId: c.receiveId }) });
      }
    }
  }

  /** GET URL verification: the decrypted echostr. */
  verifyUrl(params: Parameters<WecomCrypto['verifyUrl']>[0]): string {
    return this.first((crypto) => crypto.verifyUrl(params));
  }

  /** POST callback: the decrypted XML. */
  openCallback(params: Parameters<WecomCrypto['openCallback']>[0], encrypt: string): string {
    return this.first((crypto) => crypto.openCallback(params, encrypt));
  }

  private first(attempt: (crypto: WecomCrypto) => string): string {
    let firstError: unknown;
    for (const { use, crypto } of this.candidates) {
      try {
        const result = attempt(crypto);
        this.onUse?.(use);
        return result;
      } catch (err) {
        if (!(err instanceof WecomCryptoError)) throw err;
        firstError ??= err;
      }
    }
    throw firstError;
  }
}
