import type { Logger } from 'pino';
import { buildCallbackEnvelope, buildKfCallbackEvent, type WecomCrypto } from '@wecom-relay/shared';
import type { FakeClock } from './clock.js';
import type { CallbackTokens } from './callback-tokens.js';
import type { CallbackResult, RawCallbackInput, RawCallbackResult } from './control-types.js';
import { randomId } from './ids.js';

/** WeCom drops the connection when a callback gets no answer within 5 seconds (reference §4). */
const CALLBACK_TIMEOUT_MS = 5000;

/** Collaborators of the deliverer. */
export interface CallbackDeliveryDeps {
  crypto: WecomCrypto;
  corpId: string;
  openKfid: string;
  clock: FakeClock;
  tokens: CallbackTokens;
  logger: Logger;
  fetch: typeof fetch;
  /** Extra attempts after a failed delivery (non-200 or no answer), as WeCom retries; default 0. */
  retries: number;
  /** Told about every attempt, for the stats. */
  onAttempt(ok: boolean): void;
}

/** A sealed callback ready to POST. */
interface SealedCallback {
  query: string;
  body: string;
}

/** Plays WeCom's side of callbacks: encrypts, signs and POSTs kf_msg_or_event to relay URLs. */
export class CallbackDelivery {
  constructor(private readonly deps: CallbackDeliveryDeps) {}

  /** Announces new kf messages: one fresh callback Token, the same sealed body `times` times to every URL. */
  async announce(urls: readonly string[], times = 1, concurrent = false, openKfid = this.deps.openKfid): Promise<CallbackResult[]> {
    const sealed = this.#seal(this.#eventXml(openKfid));
    const jobs = urls.flatMap((url) => Array.from({ length: times }, () => url));
    if (concurrent) return Promise.all(jobs.map((url) => this.#deliver(url, sealed)));
    const results: CallbackResult[] = [];
    for (const url of jobs) results.push(await this.#deliver(url, sealed));
    return results;
  }

  /** A hand-made callback for negative tests; no retries, the relay's answer is returned as is. */
  async raw(url: string, input: RawCallbackInput): Promise<RawCallbackResult> {
    const timestamp = input.timestamp ?? String(this.deps.clock.nowSeconds());
    const nonce = input.nonce ?? randomId(10);
    const encrypt = input.encrypt ?? this.deps.crypto.encrypt(input.plaintext ?? this.#eventXml());
    const signature = input.msg_signature ?? this.deps.crypto.signature(timestamp, nonce, encrypt);
    const body = input.body ?? buildCallbackEnvelope({ toUserName: this.deps.corpId, encrypt });
    const query = new URLSearchParams({ msg_signature: signature, timestamp, nonce }).toString();
    const answer = await this.#post(url, { query, body });
    return { url, status: answer.status, body: answer.text, ...(answer.error ? { error: answer.error } : {}) };
  }

  /** The kf_msg_or_event of one kf account: its OpenKfId and a Token valid for that account only. */
  #eventXml(openKfid = this.deps.openKfid): string {
    return buildKfCallbackEvent({
      toUserName: this.deps.corpId,
      createTime: this.deps.clock.nowSeconds(),
      token: this.deps.tokens.issue(openKfid),
      openKfid,
    });
  }

  #seal(xml: string): SealedCallback {
    const timestamp = String(this.deps.clock.nowSeconds());
    const nonce = randomId(10);
    const { encrypt, msgSignature } = this.deps.crypto.sealCallback(xml, timestamp, nonce);
    return {
      query: new URLSearchParams({ msg_signature: msgSignature, timestamp, nonce }).toString(),
      body: buildCallbackEnvelope({ toUserName: this.deps.corpId, encrypt }),
    };
  }

  async #deliver(url: string, sealed: SealedCallback): Promise<CallbackResult> {
    let result: CallbackResult = { url, status: null };
    for (let attempt = 0; attempt <= this.deps.retries; attempt++) {
      const answer = await this.#post(url, sealed);
      const ok = answer.status === 200;
      this.deps.onAttempt(ok);
      result = { url, status: answer.status, ...(answer.error ? { error: answer.error } : {}) };
      if (ok) break;
      this.deps.logger.warn({ url, status: answer.status, error: answer.error, attempt }, 'callback not acknowledged');
    }
    return result;
  }

  async #post(url: string, sealed: SealedCallback): Promise<{ status: number | null; text: string; error?: string }> {
    const target = `${url}${url.includes('?') ? '&' : '?'}${sealed.query}`;
    try {
      const res = await this.deps.fetch(target, {
        method: 'POST',
        // The request Content-Type WeCom uses is UNCONFIRMED (reference §1.5); relays must read the raw body.
        headers: { 'content-type': 'text/xml; charset=utf-8' },
        body: sealed.body,
        signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS),
      });
      const text = await res.text();
      return { status: res.status, text };
    } catch (err) {
      return { status: null, text: '', error: err instanceof Error ? err.message : String(err) };
    }
  }
}
