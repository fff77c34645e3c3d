import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { WecomCrypto, buildCallbackEnvelope, buildKfCallbackEvent } from '@wecom-relay/shared';
import { createWebhookHandler } from '../../src/http/webhook-handler.js';
import { createMetrics } from '../../src/observability/metrics.js';

const CORP = 'ww-test-corp';
const KF = 'wk-served';
const crypto = new WecomCrypto({ token: 'callback-token', encodingAesKey: 'a'.repeat(43), receiveId: CORP });
const otherCorp = new WecomCrypto({ token: 'callback-token', encodingAesKey: 'a'.repeat(43), receiveId: 'ww-other' });
/** The handler's clock stands at the moment the fixed callbacks below were signed, inside the replay window. */
const SIGNED_AT_MS = 1_700_000_000_000;

interface Served {
  url: string;
  notes: Array<string | null>;
  /** The kf account each noted callback named. */
  accounts: Array<string | null>;
  outcomes: () => Promise<Record<string, number>>;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** The handler behind a loopback HTTP server; onKfCallback records the token or fails on demand. */
async function serve(options: { failNote?: boolean; maxBodyBytes?: number; openKfids?: string[] } = {}): Promise<Served> {
  const notes: Array<string | null> = [];
  const accounts: Array<string | null> = [];
  const metrics = createMetrics('webhook-test');
  const handler = createWebhookHandler({
    crypto,
    openKfids: options.openKfids ?? [KF],
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    onKfCallback: async (openKfid, token) => {
      if (options.failNote) throw new Error('store unavailable');
      notes.push(token);
      accounts.push(openKfid);
    },
    logger: pino({ level: 'silent' }),
    metrics,
    now: () => SIGNED_AT_MS,
  });
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const outcomes = async () => {
    const metric = await metrics.webhookRequests.get();
    return Object.fromEntries(metric.values.map((v) => [`${v.labels.kind}:${v.labels.outcome}`, v.value]));
  };
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`, notes, accounts, outcomes };
}

/** A signed callback POST as WeCom sends it. */
function callback(event: { token?: string; openKfid?: string; eventName?: string }, sealer = crypto) {
  let xml = buildKfCallbackEvent({ toUserName: CORP, createTime: 1_700_000_000, token: event.token ?? 'sync-token', openKfid: event.openKfid ?? KF });
  if (event.eventName) xml = xml.replace('kf_msg_or_event', event.eventName);
  const sealed = sealer.sealCallback(xml, '1700000000', 'nonce1');
  return { query: `msg_signature=${sealed.msgSignature}&timestamp=1700000000&nonce=nonce1`, body: buildCallbackEnvelope({ toUserName: CORP, encrypt: sealed.encrypt }) };
}

async function post(s: Served, query: string, body: string) {
  const res = await fetch(`${s.url}?${query}`, { method: 'POST', body });
  const text = await res.text();
  return { status: res.status, code: text ? (JSON.parse(text) as { code?: string }).code : undefined };
}

describe('webhook handler, in process', () => {
  it('notes a kf callback with its sync token and answers 200 with an empty body', async () => {
    const s = await serve();
    const c = callback({ token: 'tok-123' });
    const res = await fetch(`${s.url}?${c.query}`, { method: 'POST', body: c.body });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect(s.notes).toEqual(['tok-123']);
    expect(await s.outcomes()).toEqual({ 'callback:ok': 1 });
  });

  it('acknowledges but does not pull for another kf account or another event kind', async () => {
    const s = await serve();
    const other = callback({ openKfid: 'wk-elsewhere' });
    expect((await post(s, other.query, other.body)).status).toBe(200);
    const kind = callback({ eventName: 'enter_session' });
    expect((await post(s, kind.query, kind.body)).status).toBe(200);
    expect(s.notes).toEqual([]);
  });

  it('with several kf accounts, notes a callback for the account it names and drops one for an account not served', async () => {
    const s = await serve({ openKfids: [KF, 'wk-second'] });
    const second = callback({ openKfid: 'wk-second', token: 'tok-2' });
    expect((await post(s, second.query, second.body)).status).toBe(200);
    const first = callback({ openKfid: KF, token: 'tok-1' });
    expect((await post(s, first.query, first.body)).status).toBe(200);
    const other = callback({ openKfid: 'wk-elsewhere', token: 'tok-x' });
    expect((await post(s, other.query, other.body)).status).toBe(200);
    expect(s.accounts).toEqual(['wk-second', KF]);
    expect(s.notes).toEqual(['tok-2', 'tok-1']);
  });

  it('answers 503 NOT_READY when the pull could not be noted, so WeCom retries', async () => {
    const s = await serve({ failNote: true });
    const c = callback({});
    expect(await post(s, c.query, c.body)).toEqual({ status: 503, code: 'NOT_READY' });
    expect(await s.outcomes()).toEqual({ 'callback:NOT_READY': 1 });
  });

  it('refuses a tampered signature (401), a foreign receiver, garbage and a missing parameter, noting nothing', async () => {
    const s = await serve();
    const c = callback({});
    const tampered = c.query.replace(/msg_signature=([0-9a-f])/, (_m, ch: string) => `msg_signature=${ch === '0' ? '1' : '0'}`);
    expect(await post(s, tampered, c.body)).toEqual({ status: 401, code: 'WEBHOOK_SIGNATURE_INVALID' });
    const foreign = callback({}, otherCorp);
    expect(await post(s, foreign.query, foreign.body)).toEqual({ status: 400, code: 'WEBHOOK_RECEIVE_ID_MISMATCH' });
    expect(await post(s, c.query, '<xml><nothing/></xml>')).toEqual({ status: 400, code: 'WEBHOOK_MALFORMED' });
    const garbage = crypto.signature('1700000000', 'nonce1', 'AAAA');
    expect(await post(s, `msg_signature=${garbage}&timestamp=1700000000&nonce=nonce1`, buildCallbackEnvelope({ toUserName: CORP, encrypt: 'AAAA' }))).toMatchObject({
      status: 400,
      code: 'WEBHOOK_DECRYPT_FAILED',
    });
    for (const drop of ['msg_signature', 'timestamp', 'nonce']) {
      const q = c.query.split('&').filter((p) => !p.startsWith(`${drop}=`)).join('&');
      expect(await post(s, q, c.body)).toEqual({ status: 400, code: 'WEBHOOK_BAD_QUERY' });
    }
    // A decrypted body that is not a kf event is malformed too.
    const sealed = crypto.sealCallback('<xml><Nope>1</Nope></xml>', '1700000000', 'nonce1');
    expect(await post(s, `msg_signature=${sealed.msgSignature}&timestamp=1700000000&nonce=nonce1`, buildCallbackEnvelope({ toUserName: CORP, encrypt: sealed.encrypt }))).toEqual({
      status: 400,
      code: 'WEBHOOK_MALFORMED',
    });
    expect(s.notes).toEqual([]);
    const outcomes = await s.outcomes();
    expect(outcomes['callback:WEBHOOK_BAD_QUERY']).toBe(3);
    expect(outcomes['callback:ok']).toBeUndefined();
  });

  it('refuses a body above maxBodyBytes (413) without noting anything', async () => {
    const s = await serve({ maxBodyBytes: 64 });
    const c = callback({});
    expect(await post(s, c.query, c.body)).toEqual({ status: 413, code: 'WEBHOOK_BODY_TOO_LARGE' });
    expect(s.notes).toEqual([]);
  });

  it('URL verification (GET) echoes the decrypted echostr exactly; a bad signature or missing echostr is refused', async () => {
    const s = await serve();
    const echostr = crypto.encrypt('1234567890123456789');
    const signature = crypto.signature('1700000000', 'n2', echostr);
    const base = `${s.url}?msg_signature=${signature}&timestamp=1700000000&nonce=n2`;
    const ok = await fetch(`${base}&echostr=${encodeURIComponent(echostr)}`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('1234567890123456789');
    const missing = await fetch(base);
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { code: string }).code).toBe('WEBHOOK_BAD_QUERY');
    const bad = await fetch(`${s.url}?msg_signature=${'0'.repeat(40)}&timestamp=1700000000&nonce=n2&echostr=${encodeURIComponent(echostr)}`);
    expect(bad.status).toBe(401);
    expect(await bad.text()).not.toContain('1234567890123456789');
    expect(await s.outcomes()).toEqual({ 'verify:ok': 1, 'verify:WEBHOOK_BAD_QUERY': 1, 'verify:WEBHOOK_SIGNATURE_INVALID': 1 });
    expect(s.notes).toEqual([]);
  });
});
