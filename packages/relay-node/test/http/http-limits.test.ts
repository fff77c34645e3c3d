import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { queryOf, signedCallback, startWebhook } from './webhook-harness.js';

type Webhook = Awaited<ReturnType<typeof startWebhook>>;
const open: Webhook[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(open.splice(0).map((w) => w.close()));
});

/** Opens a raw connection; resolves once connected. */
function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', reject);
    sockets.push(s);
  });
}

/** Resolves what the server did with a socket within `boundMs` (a safety net): 'closed' with any answer, or 'open'. */
function fate(s: Socket, boundMs: number): Promise<{ fate: 'closed' | 'open'; answer: string }> {
  let answer = '';
  s.on('data', (d: Buffer) => (answer += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ fate: 'open', answer }), boundMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ fate: 'closed', answer });
    });
  });
}

describe('HTTP limits', () => {
  it('ends a request whose body never finishes once the request timeout has passed (checked often, not every 30 s)', async () => {
    // The webhook's own answer deadline is pushed out of the way: this is the server's limit alone.
    const w = await startWebhook({ deadlineMs: 60_000 }, { requestTimeoutMs: 300, headersTimeoutMs: 300, connectionsCheckMs: 100, maxConnections: 100 });
    open.push(w);
    const s = await rawSocket(w.server.port());
    // A genuine query, so the handler waits for the body; the headers promise a body that never comes.
    const query = queryOf(signedCallback().fields);
    s.write(`POST /webhook?${query} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<xml>`);
    const result = await fate(s, 10_000);
    expect(result.fate).toBe('closed');
  });

  it('ends a connection whose headers never finish', async () => {
    const w = await startWebhook({}, { requestTimeoutMs: 300, headersTimeoutMs: 300, connectionsCheckMs: 100, maxConnections: 100 });
    open.push(w);
    const s = await rawSocket(w.server.port());
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    const result = await fate(s, 10_000);
    expect(result.fate).toBe('closed');
  });

  it('refuses connections beyond the maximum', async () => {
    const w = await startWebhook({}, { requestTimeoutMs: 15_000, headersTimeoutMs: 10_000, connectionsCheckMs: 1_000, maxConnections: 2 });
    open.push(w);
    const held = [await rawSocket(w.server.port()), await rawSocket(w.server.port())];
    held.forEach((s) => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
    const third = await rawSocket(w.server.port());
    third.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    const result = await fate(third, 10_000);
    expect(result).toEqual({ fate: 'closed', answer: '' });
  });
});
