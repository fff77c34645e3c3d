import { randomBytes } from 'node:crypto';
import { WecomCrypto, buildCallbackEnvelope, buildKfCallbackEvent } from '@wecom-relay/shared';
import type { TestCorp } from '@wecom-relay/testkit';

/** What one POST to a relay's webhook came back with, and how long it took. */
export interface TimedAnswer {
  /** HTTP status, or null when no answer came within the client's patience. */
  status: number | null;
  ms: number;
}

/**
 * POSTs a genuine kf_msg_or_event callback (signed and encrypted for the corp, fresh timestamp and nonce) the way
 * WeCom does, and times the answer. `patienceMs` bounds the wait so a relay that never answers ends the call.
 */
export async function postSignedCallback(corp: TestCorp, webhookUrl: string, patienceMs: number): Promise<TimedAnswer> {
  const crypto = new WecomCrypto({ token: corp.token, encodingAesKey: corp.encodingAesKey, receiveId: corp.corpId });
  const now = Math.floor(Date.now() / 1000);
  const timestamp = String(now);
  const nonce = randomBytes(5).toString('hex');
  // No callback Token: the relay then pulls without one, which the fake accepts.
  const xml = buildKfCallbackEvent({ toUserName: corp.corpId, createTime: now, token: '', openKfid: corp.openKfid });
  const { encrypt, msgSignature } = crypto.sealCallback(xml, timestamp, nonce);
  const started = Date.now();
  try {
    const res = await fetch(`${webhookUrl}?msg_signature=${msgSignature}&timestamp=${timestamp}&nonce=${nonce}`, {
      method: 'POST',
      headers: { 'content-type': 'text/xml; charset=utf-8' },
      body: buildCallbackEnvelope({ toUserName: corp.corpId, encrypt }),
      signal: AbortSignal.timeout(patienceMs),
    });
    await res.arrayBuffer();
    return { status: res.status, ms: Date.now() - started };
  } catch {
    return { status: null, ms: Date.now() - started };
  }
}

/** Polls GET /readyz every 200 ms until `want(status)` holds; resolves the elapsed ms, or null after `boundMs`. */
export async function timeUntilReadiness(httpUrl: string, want: (status: number | null) => boolean, boundMs: number): Promise<number | null> {
  const started = Date.now();
  while (Date.now() - started < boundMs) {
    let status: number | null = null;
    try {
      const res = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      status = res.status;
    } catch {
      status = null;
    }
    if (want(status)) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 200));
  }
  return null;
}
