import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { WecomCrypto, buildCallbackEnvelope, buildKfCallbackEvent } from '@wecom-relay/shared';
import { createWebhookHandler, type WebhookHandlerOptions } from '../../src/http/webhook-handler.js';
import { createMetrics } from '../../src/observability/metrics.js';

const CORP = 'ww-edge-corp';
const KF = 'wk-edge';
const crypto = new WecomCrypto({ token: 'callback-token', encodingAesKey: 'b'.repeat(43), receiveId: CORP });
const SIGNED_AT_S = 1_700_000_000;
const WINDOW_MS = 5 * 60_000;

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** The handler behind a loopback server, with a clock the test sets and the log lines it wrote. */
async function serve(options: Partial<WebhookHandlerOptions> & { note?: () => Promise<void> } = {}) {
  let nowMs = SIGNED_AT_S * 1000;
  const lines: Array<Record<string, unknown>> = [];
  const notes: Array<string | null> = [];
  const metrics = createMetrics('webhook-edges');
  const { note, ...rest } = options;
  const handler = createWebhookHandler({
    crypto,
    openKfids: [KF],
    maxBodyBytes: 64 * 1024,
    onKfCallback: async (_account, token) => {
      await note?.();
      notes.push(token);
    },
    logger: pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }),
    metrics,
    now: () => nowMs,
    ...rest,
  });
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhook`;
  return {
    lines,
    notes,
    setNow: (ms: number) => void (nowMs = ms),
    refusals: () => lines.filter((l) => l.msg === 'webhook request refused'),
    outcomes: async () => Object.fromEntries((await metrics.webhookRequests.get()).values.map((v) => [`${v.labels.kind}:${v.labels.outcome}`, v.value])),
    post: async (query: string, body: string) => {
      const res = await fetch(`${url}?${query}`, { method: 'POST', body });
      const text = await res.text();
      return { status: res.status, code: text ? (JSON.parse(text) as { code?: string }).code : undefined };
    },
  };
}

/** A signed callback; `createTime` and `nonce` vary per test. */
function callback(o: { createTime?: number; nonce?: string } = {}) {
  const xml = buildKfCallbackEvent({ toUserName: CORP, createTime: o.createTime ?? SIGNED_AT_S, token: 'sync-token', openKfid: KF });
  const nonce = o.nonce ?? 'nonce1';
  const sealed = crypto.sealCallback(xml, String(SIGNED_AT_S), nonce);
  return { query: `msg_signature=${sealed.msgSignature}&timestamp=${SIGNED_AT_S}&nonce=${nonce}`, body: buildCallbackEnvelope({ toUserName: CORP, encrypt: sealed.encrypt }) };
}

describe('webhook handler edges', () => {
  it('accepts a timestamp exactly at the edge of the replay window, refuses one a millisecond past it', async () => {
    const s = await serve();
    const edge = callback({ createTime: SIGNED_AT_S, nonce: 'edge' });
    s.setNow(SIGNED_AT_S * 1000 + WINDOW_MS);
    expect(await s.post(edge.query, edge.body)).toEqual({ status: 200, code: undefined });
    const past = callback({ createTime: SIGNED_AT_S, nonce: 'past' });
    s.setNow(SIGNED_AT_S * 1000 - WINDOW_MS - 1);
    expect(await s.post(past.query, past.body)).toEqual({ status: 400, code: 'WEBHOOK_STALE' });
  });

  it('says why it refused: which signed fields came twice, and a stale CreateTime', async () => {
    const s = await serve();
    const c = callback();
    expect(await s.post(`${c.query}&timestamp=${SIGNED_AT_S}&nonce=nonce1`, c.body)).toEqual({ status: 400, code: 'WEBHOOK_BAD_QUERY' });
    const stale = callback({ createTime: SIGNED_AT_S - 3_600, nonce: 'stale' });
    expect(await s.post(stale.query, stale.body)).toEqual({ status: 400, code: 'WEBHOOK_STALE' });
    expect(s.refusals().map((l) => l.reason)).toEqual([
      'query field given more than once: timestamp, nonce',
      'callback CreateTime is outside the accepted window',
    ]);
  });

  it('answers 503 at the configured deadline and names it; the late note is not counted as answered 200', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const s = await serve({ deadlineMs: 50, note: () => held });
    const c = callback();
    expect(await s.post(c.query, c.body)).toEqual({ status: 503, code: 'NOT_READY' });
    expect(s.refusals().map((l) => [l.level, l.reason])).toEqual([[50, 'callback could not be recorded within 50 ms; retry']]);
    release();
    const deadline = Date.now() + 10_000;
    while (s.notes.length === 0) {
      if (Date.now() > deadline) throw new Error('the late note never completed');
      await new Promise((resolve) => setImmediate(resolve));
    }
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(await s.outcomes()).toEqual({ 'callback:NOT_READY': 1 });
  });

  it('logs refusals from one source once per configured interval', async () => {
    const s = await serve({ refusalLogIntervalMs: 1_000 });
    const bad = 'msg_signature=00&timestamp=1700000000';
    await s.post(bad, '');
    s.setNow(SIGNED_AT_S * 1000 + 999);
    await s.post(bad, '');
    expect(s.refusals()).toHaveLength(1);
    s.setNow(SIGNED_AT_S * 1000 + 1_000);
    await s.post(bad, '');
    expect(s.refusals()).toHaveLength(2);
  });
});
