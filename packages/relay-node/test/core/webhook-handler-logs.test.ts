import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { WecomCrypto, buildCallbackEnvelope, buildKfCallbackEvent } from '@wecom-relay/shared';
import { createWebhookHandler } from '../../src/http/webhook-handler.js';
import { createMetrics } from '../../src/observability/metrics.js';

const CORP = 'ww-test-corp';
const crypto = new WecomCrypto({ token: 'callback-token', encodingAesKey: 'b'.repeat(43), receiveId: CORP });
/** The handler's clock stands at the moment the fixed callbacks below were signed, inside the replay window. */
const SIGNED_AT_MS = 1_700_000_000_000;

type Line = { level: number; msg: string; code?: string; kind?: string; openKfid?: string; msgType?: string; event?: string; cause?: string };

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function serve(failNote = false) {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Line);
      done();
    },
  });
  const handler = createWebhookHandler({
    crypto,
    openKfids: ['wk-served'],
    maxBodyBytes: 64 * 1024,
    onKfCallback: async () => {
      if (failNote) throw new Error('store unavailable');
    },
    logger: pino({ level: 'debug' }, stream),
    metrics: createMetrics('webhook-logs'),
    now: () => SIGNED_AT_MS,
  });
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`, lines };
}

function sealed(xml: string) {
  const s = crypto.sealCallback(xml, '1700000000', 'n1');
  return { query: `msg_signature=${s.msgSignature}&timestamp=1700000000&nonce=n1`, body: buildCallbackEnvelope({ toUserName: CORP, encrypt: s.encrypt }) };
}

async function post(url: string, query: string, body: string) {
  const res = await fetch(`${url}?${query}`, { method: 'POST', body });
  return { status: res.status, json: (await res.json().catch(() => null)) as { code: string; message: string } | null };
}

describe('webhook handler: what a refusal says, and what gets logged', () => {
  it('client errors are logged at warn with code and kind; a store failure at error, answered with a retry hint', async () => {
    const s = await serve();
    const c = sealed(buildKfCallbackEvent({ toUserName: CORP, createTime: 1_700_000_000, token: 't', openKfid: 'wk-served' }));
    const bad = await post(s.url, c.query.replace('msg_signature=', 'msg_signature=0'), c.body);
    expect(bad.status).toBe(401);
    expect(s.lines.at(-1)).toMatchObject({ level: 40, code: 'WEBHOOK_SIGNATURE_INVALID', kind: 'callback', msg: 'webhook request refused' });

    const failing = await serve(true);
    const res = await post(failing.url, c.query, c.body);
    expect(res.json).toEqual({ code: 'NOT_READY', message: 'could not record the callback; retry' });
    expect(failing.lines.at(-1)).toMatchObject({ level: 50, code: 'NOT_READY', kind: 'callback', msg: 'webhook request refused' });
    // Refusals are logged without a stack; the store's own words travel as `cause`.
    expect(failing.lines.at(-1)?.cause).toContain('store unavailable');
  });

  it('refusals name the cause: missing echostr, undecryptable body, rejected XML, malformed percent-encoding', async () => {
    const s = await serve();
    const sig = crypto.signature('1700000000', 'n1', 'x');
    const verify = await fetch(`${s.url}?msg_signature=${sig}&timestamp=1700000000&nonce=n1`);
    expect(((await verify.json()) as { message: string }).message).toBe('echostr is required for URL verification');
    expect(s.lines.at(-1)).toMatchObject({ kind: 'verify', code: 'WEBHOOK_BAD_QUERY' });

    const sig2 = crypto.signature('1700000000', 'n1', 'AAAA');
    const undecryptable = await post(s.url, `msg_signature=${sig2}&timestamp=1700000000&nonce=n1`, buildCallbackEnvelope({ toUserName: CORP, encrypt: 'AAAA' }));
    expect(undecryptable.json).toEqual({ code: 'WEBHOOK_DECRYPT_FAILED', message: 'callback could not be decrypted (decrypt_failed)' });

    const c = sealed('<xml><a>1</a></xml>');
    const notEnvelope = await post(s.url, c.query, '<xml><nothing/></xml>');
    expect(notEnvelope.json?.code).toBe('WEBHOOK_MALFORMED');
    expect(notEnvelope.json?.message).toMatch(/^callback XML rejected \(.+\)$/);

    for (const method of ['GET', 'POST'] as const) {
      const res = await fetch(`${s.url}?msg_signature=%E0%A4%A&timestamp=1&nonce=n`, { method, body: method === 'POST' ? c.body : undefined });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('WEBHOOK_BAD_QUERY');
    }
  });

  it('logs a callback for another kf account (warn, with the account) and one of another kind (debug)', async () => {
    const s = await serve();
    const other = sealed(buildKfCallbackEvent({ toUserName: CORP, createTime: 1_700_000_000, token: 't', openKfid: 'wk-elsewhere' }));
    expect((await post(s.url, other.query, other.body)).status).toBe(200);
    expect(s.lines.at(-1)).toMatchObject({ level: 40, openKfid: 'wk-elsewhere', msg: 'callback for a kf account this relay does not serve' });
    const kind = sealed(
      buildKfCallbackEvent({ toUserName: CORP, createTime: 1_700_000_000, token: 't', openKfid: 'wk-served' }).replace('kf_msg_or_event', 'enter_session'),
    );
    expect((await post(s.url, kind.query, kind.body)).status).toBe(200);
    expect(s.lines.at(-1)).toMatchObject({ level: 20, msgType: 'event', event: 'enter_session', msg: 'callback of another kind acknowledged' });
  });
});
