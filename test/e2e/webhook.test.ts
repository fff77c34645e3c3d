import { randomInt } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { WecomCrypto, buildCallbackEnvelope, buildKfCallbackEvent } from '@wecom-relay/shared';
import { bindByScan } from './support/binding-steps.js';
import { newUserId, useRelayStack } from './support/relay-stack.js';
import { syncIdle } from './support/sync-idle.js';

// No polling fallback during this file: every pull must be caused by a callback the test sent.
const stack = useRelayStack({ relayEnv: { SYNC_POLL_INTERVAL_MS: String(3_600_000) } });

function cryptoFor(s: ReturnType<typeof stack>): WecomCrypto {
  return new WecomCrypto({ token: s.corp.token, encodingAesKey: s.corp.encodingAesKey, receiveId: s.corp.corpId });
}

/** A genuine kf callback sealed for this stack's corp: its query fields (in order) and body. */
function sealedCallback(s: ReturnType<typeof stack>, o: { timestamp?: number } = {}): { fields: Array<[string, string]>; body: string } {
  const crypto = cryptoFor(s);
  const now = Math.floor(Date.now() / 1000);
  const timestamp = String(o.timestamp ?? now);
  const nonce = String(randomInt(1e8, 1e9));
  const xml = buildKfCallbackEvent({ toUserName: s.corp.corpId, createTime: o.timestamp ?? now, token: '', openKfid: s.corp.openKfid });
  const { encrypt, msgSignature } = crypto.sealCallback(xml, timestamp, nonce);
  return {
    fields: [
      ['msg_signature', msgSignature],
      ['timestamp', timestamp],
      ['nonce', nonce],
    ],
    body: buildCallbackEnvelope({ toUserName: s.corp.corpId, encrypt }),
  };
}

async function postCallback(s: ReturnType<typeof stack>, fields: Array<[string, string]>, body: string): Promise<number> {
  const query = fields.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
  const res = await fetch(`${s.relay.webhookUrl}?${query}`, { method: 'POST', body, headers: { 'content-type': 'text/xml' } });
  await res.arrayBuffer();
  return res.status;
}

async function replayCount(s: ReturnType<typeof stack>): Promise<number> {
  const text = await (await fetch(s.relay.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith('relay_webhook_requests_total{') && l.includes('outcome="replay"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

/**
 * The sync_msg calls so far, counted once every pull asked for until now is over, so a count taken before a step and
 * one taken after it differ exactly by the pulls that step caused.
 */
async function settledSyncCalls(s: ReturnType<typeof stack>): Promise<number> {
  await syncIdle(s.relay.metricsUrl);
  return (await s.fake.control.stats()).calls['kf/sync_msg'] ?? 0;
}

describe('URL verification (GET /webhook)', () => {
  it('answers the decrypted echostr as the raw body', async () => {
    const s = stack();
    const crypto = cryptoFor(s);
    const echo = String(randomInt(1e9, 1e10)) + String(randomInt(1e9, 1e10));
    const echostr = crypto.encrypt(echo);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = String(randomInt(1e8, 1e9));
    const signature = crypto.signature(timestamp, nonce, echostr);

    const res = await fetch(
      `${s.relay.httpUrl}/webhook?msg_signature=${signature}&timestamp=${timestamp}&nonce=${nonce}&echostr=${encodeURIComponent(echostr)}`,
    );

    expect(res.status).toBe(200);
    expect(await res.text()).toBe(echo);
  });

  it('refuses a verification whose signature does not match, without revealing the plaintext', async () => {
    const s = stack();
    const crypto = cryptoFor(s);
    const echo = '1616140317555161061';
    const echostr = crypto.encrypt(echo);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const wrong = crypto.signature(timestamp, 'other-nonce', echostr);

    const res = await fetch(
      `${s.relay.httpUrl}/webhook?msg_signature=${wrong}&timestamp=${timestamp}&nonce=12345&echostr=${encodeURIComponent(echostr)}`,
    );

    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(await res.text()).not.toContain(echo);
  });
});

describe('callbacks (POST /webhook)', () => {
  it('refuses a callback with a bad signature and pulls nothing because of it', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const pending = await s.fake.control.customerMessage({
      external_userid: user,
      msgtype: 'text',
      content: 'waiting for a real callback',
      deliver: false,
    });
    const syncsBefore = await settledSyncCalls(s);

    const forged = await s.fake.control.callbackRaw({ msg_signature: '0'.repeat(40) });

    expect(forged.status).toBeGreaterThanOrEqual(400);
    expect(forged.status).toBeLessThan(500);
    expect(await settledSyncCalls(s)).toBe(syncsBefore);
    expect(gw.inbound().map((m) => m.id)).not.toContain(pending.msgid);

    // The message is still there for the next genuine callback, exactly once.
    await s.fake.control.callback({});
    await gw.waitForInbound((m) => m.id === pending.msgid);
    expect(gw.inbound().filter((m) => m.id === pending.msgid)).toHaveLength(1);
  });

  it('refuses a body that is not a WeCom envelope', async () => {
    const s = stack();
    const garbage = await s.fake.control.callbackRaw({ body: '<xml><nothing/></xml>' });
    expect(garbage.status).toBeGreaterThanOrEqual(400);
    expect(garbage.status).toBeLessThan(500);
    const health = await fetch(`${s.relay.httpUrl}/healthz`);
    expect(health.status).toBe(200);
  });

  it('delivers a message once when WeCom sends the same callback three times at once', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const message = await s.fake.control.customerMessage({
      external_userid: user,
      msgtype: 'text',
      content: 'said once',
      deliver: false,
    });

    const results = await s.fake.control.callback({ times: 3, concurrent: true });
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);

    // A later message is the marker: once it is in, every pull that could have repeated the first one is over.
    await gw.waitForInbound((m) => m.id === message.msgid);
    const marker = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'marker' });
    await gw.waitForInbound((m) => m.id === marker.msgid);
    expect(gw.inbound().filter((m) => m.id === message.msgid)).toHaveLength(1);
  });

  it('recovers a window whose sync_msg answer was lost, and delivers its message once', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    // WeCom handles the pull, but the answer never arrives: the relay must read that window again.
    await s.fake.control.faults({ path: 'kf/sync_msg', after: true, dropConnection: true });

    const message = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'answer lost once' });
    await gw.waitForInbound((m) => m.id === message.msgid);
    await s.fake.control.callback({});
    const marker = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'marker 2' });
    await gw.waitForInbound((m) => m.id === marker.msgid);

    expect(gw.inbound().filter((m) => m.id === message.msgid)).toHaveLength(1);
    expect(await s.fake.control.faultsPending()).toEqual([]);
  });

  it('survives access tokens expiring mid-run', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const before = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'before expiry' });
    await gw.waitForInbound((m) => m.id === before.msgid);
    const tokensBefore = (await s.fake.control.stats()).tokens_issued;

    await s.fake.control.expireTokens();

    const after = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'after expiry' });
    await gw.waitForInbound((m) => m.id === after.msgid);
    const ack = await gw.reply(user, 'still here');
    expect(ack).toMatchObject({ type: 'ack' });
    expect(await s.fake.control.sent({ touser: user })).toContainEqual(expect.objectContaining({ content: 'still here' }));
    expect((await s.fake.control.stats()).tokens_issued).toBeGreaterThan(tokensBefore);
  });

  it('refuses a signed callback with a repeated or missing query field, and pulls nothing because of it', async () => {
    const s = stack();
    const syncsBefore = await settledSyncCalls(s);
    const cb = sealedCallback(s);
    const [sig, ts, nonce] = cb.fields;
    for (const fields of [
      [sig!, ['msg_signature', 'b'] as [string, string], ts!, nonce!],
      [['msg_signature', 'a'] as [string, string], sig!, ts!, nonce!],
      [sig!, ts!, ts!, nonce!],
      [sig!, ts!, nonce!, ['nonce', '1'] as [string, string]],
      [sig!, ts!],
      [['msg_signature', ''] as [string, string], ts!, nonce!],
    ]) {
      const status = await postCallback(s, fields, cb.body);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
    }
    expect(await settledSyncCalls(s)).toBe(syncsBefore);
    expect(await postCallback(s, cb.fields, cb.body)).toBe(200);
  });

  it('refuses a correctly signed callback whose timestamp is an hour old; the message waits for a genuine one', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const pending = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'old callback', deliver: false });
    const syncsBefore = await settledSyncCalls(s);
    const stale = sealedCallback(s, { timestamp: Math.floor(Date.now() / 1000) - 3600 });
    expect(await postCallback(s, stale.fields, stale.body)).toBe(400);
    expect(await settledSyncCalls(s)).toBe(syncsBefore);
    await s.fake.control.callback({});
    await gw.waitForInbound((m) => m.id === pending.msgid);
  });

  it('answers an exact replay of an accepted callback 200, as a replay, and delivers its message once', async () => {
    const s = stack();
    const gw = await s.gateway();
    const user = newUserId();
    await bindByScan(s, gw, user);
    const message = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'replayed', deliver: false });
    const cb = sealedCallback(s);
    const replaysBefore = await replayCount(s);
    expect(await postCallback(s, cb.fields, cb.body)).toBe(200);
    await gw.waitForInbound((m) => m.id === message.msgid);
    expect(await postCallback(s, cb.fields, cb.body)).toBe(200);
    expect(await replayCount(s)).toBe(replaysBefore + 1);
    const marker = await s.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'after the replay' });
    await gw.waitForInbound((m) => m.id === marker.msgid);
    expect(gw.inbound().filter((m) => m.id === message.msgid)).toHaveLength(1);
  });
});
