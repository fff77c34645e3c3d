import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { WecomCrypto, buildCallbackEnvelope, buildKfCallbackEvent } from '@wecom-relay/shared';
import { RelayHttpServer, type HttpLimits } from '../../src/http/http-server.js';
import { createWebhookHandler, type WebhookHandlerOptions } from '../../src/http/webhook-handler.js';
import { createMetrics } from '../../src/observability/metrics.js';

export const CORP = 'ww0123456789abcdef';
export const OPEN_KFID = 'wkTESTKFID';
export const crypto = new WecomCrypto({
  token: 'webhookTestToken',
  encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  receiveId: CORP,
});

/** A signed, encrypted kf callback as WeCom sends it: query fields (in order) and body. */
export interface SignedCallback {
  fields: Array<[string, string]>;
  body: string;
}

/** Seals a kf_msg_or_event callback; `timestamp` and `createTime` default to now (seconds). */
export function signedCallback(o: { timestamp?: number; createTime?: number; nonce?: string } = {}): SignedCallback {
  const now = Math.floor(Date.now() / 1000);
  const timestamp = String(o.timestamp ?? now);
  const nonce = o.nonce ?? randomBytes(5).toString('hex');
  const xml = buildKfCallbackEvent({ toUserName: CORP, createTime: o.createTime ?? now, token: 'cbtoken', openKfid: OPEN_KFID });
  const { encrypt, msgSignature } = crypto.sealCallback(xml, timestamp, nonce);
  return {
    fields: [
      ['msg_signature', msgSignature],
      ['timestamp', timestamp],
      ['nonce', nonce],
    ],
    body: buildCallbackEnvelope({ toUserName: CORP, encrypt }),
  };
}

/** The query string of given fields, each exactly as given (repeats and empties included). */
export function queryOf(fields: Array<[string, string]>): string {
  return fields.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&');
}

/** The real webhook handler behind the real HTTP server, with a counting stand-in for the sync loop's note. */
export async function startWebhook(overrides: Partial<WebhookHandlerOptions> = {}, limits?: HttpLimits) {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const metrics = createMetrics('webhook-test');
  const notes: Array<string | null> = [];
  const server = new RelayHttpServer({
    host: '127.0.0.1',
    port: 0,
    logger,
    ...(limits ? { limits } : {}),
    health: () => ({}),
    readiness: () => ({ ready: true, checks: {} }),
    webhook: createWebhookHandler({
      crypto,
      openKfids: [OPEN_KFID],
      maxBodyBytes: 4096,
      onKfCallback: async (_openKfid, token) => {
        notes.push(token);
      },
      logger,
      metrics,
      ...overrides,
    }),
  });
  await server.listen();
  const url = `http://127.0.0.1:${server.port()}/webhook`;
  return {
    url,
    server,
    notes,
    lines,
    metrics,
    /** POSTs a body with a raw query string. */
    async post(query: string, body: string): Promise<{ status: number; text: string }> {
      const res = await fetch(`${url}?${query}`, { method: 'POST', body, headers: { 'content-type': 'text/xml' } });
      return { status: res.status, text: await res.text() };
    },
    async outcomes(): Promise<Record<string, number>> {
      const m = await metrics.webhookRequests.get();
      return Object.fromEntries(m.values.map((v) => [`${String(v.labels.kind)}:${String(v.labels.outcome)}`, v.value]));
    },
    close: () => server.close(),
  };
}
