import { afterEach, describe, expect, it } from 'vitest';
import { TestClient, cleanup, startServer, until } from './gateway-harness.js';
import { RawWebSocket as RawSocket } from '@wecom-relay/testkit';

const raws: RawSocket[] = [];
afterEach(async () => {
  for (const raw of raws.splice(0)) raw.destroy();
  await cleanup();
});

async function raw(url: string, headers: Record<string, string> = {}): Promise<RawSocket> {
  const socket = await RawSocket.open(Number(new URL(url).port), headers);
  raws.push(socket);
  return socket;
}

// ws waits 30 s for the answering close frame of a socket it closed; "gone at once" is judged well inside that.
const GONE_WITHIN_MS = 5_000;

describe('unauthenticated sockets are bounded at the transport', () => {
  it('cuts off a first frame past the hello limit before anything is decoded or authenticated', async () => {
    const { url, app, observer } = await startServer({ maxHelloBytes: 4_096 });
    const client = await TestClient.connect(url);
    const keys = Object.fromEntries(Array.from({ length: 6_000 }, (_, i) => [`k${i}`, i]));
    client.hello('gw-huge', 'plain', keys);
    expect((await client.closed).code).toBe(1006);
    expect(app.trace).toEqual([]);
    expect(observer.frameErrors).toEqual([]);
    expect(observer.inbound).toEqual([]);
    expect(observer.refused).toEqual(['hello_too_large']);
  });

  it('cuts off a socket that stalls inside a large first frame, long before the hello timeout', async () => {
    const { url, observer } = await startServer({ maxHelloBytes: 8_192, helloTimeoutMs: 60_000 });
    const stalled = await raw(url);
    stalled.socket.write(Buffer.concat([RawSocket.frameHeader(8 * 1024 * 1024), Buffer.alloc(16 * 1024, 0x61)]));
    expect(await stalled.closedWithin(GONE_WITHIN_MS)).toBe(true);
    expect(observer.refused).toEqual(['hello_too_large']);
  });

  it('still accepts an ordinary hello, and larger frames once authenticated', async () => {
    const { url, app } = await startServer({ maxHelloBytes: 2_048 });
    const client = await TestClient.session(url, 'gw-normal');
    client.send({ type: 'reply', id: 'big-after-auth', external_user_id: 'wm-user', content: 'x'.repeat(200_000) });
    // Read and decoded in full (the content rule answers it), not cut off: the hello limit is over.
    expect(await client.next()).toMatchObject({ type: 'error', id: 'big-after-auth', code: 'CONTENT_TOO_LONG' });
    expect(client.ws.readyState).toBe(client.ws.OPEN);
    expect(app.sessions).toHaveLength(1);
  });

  it('sends 4001 and drops a socket that never says hello, without waiting for its answer', async () => {
    const { url, observer } = await startServer({ helloTimeoutMs: 200 });
    const silent = await raw(url);
    expect(await silent.closedWithin(GONE_WITHIN_MS)).toBe(true);
    expect(silent.closeCode()).toBe(4001);
    expect(observer.refused).toEqual(['hello_timeout']);
  });

  it('sends 4008 and drops a refused socket at once, even if it never answers the close frame', async () => {
    const { url, observer } = await startServer({ maxPendingSocketsPerAddress: 1, helloTimeoutMs: 60_000 });
    const first = await raw(url);
    const refused = await raw(url);
    expect(await refused.closedWithin(GONE_WITHIN_MS)).toBe(true);
    expect(refused.closeCode()).toBe(4008);
    expect(observer.refused).toEqual(['per_source_limit']);
    expect(first.socket.destroyed).toBe(false);
  });

  it('caps unauthenticated sockets node-wide with 4008, whatever their sources', async () => {
    const { url, observer } = await startServer({ trustedProxies: ['loopback'], maxPendingSockets: 2, helloTimeoutMs: 60_000 });
    await raw(url, { 'x-forwarded-for': '198.51.100.1' });
    await raw(url, { 'x-forwarded-for': '198.51.100.2' });
    const third = await raw(url, { 'x-forwarded-for': '198.51.100.3' });
    expect(await third.closedWithin(GONE_WITHIN_MS)).toBe(true);
    expect(third.closeCode()).toBe(4008);
    expect(observer.refused).toEqual(['node_socket_limit']);
  });

  it('caps the bytes all unauthenticated sockets hold together', async () => {
    const { url, observer } = await startServer({ maxHelloBytes: 8_192, maxPendingBytes: 10_000, helloTimeoutMs: 60_000 });
    const first = await raw(url);
    first.socket.write(Buffer.concat([RawSocket.frameHeader(7_000), Buffer.alloc(6_000, 0x61)]));
    await until(() => observer.refused.length > 0 || first.socket.bytesWritten >= 6_014, 'the first bytes to leave');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = await raw(url);
    second.socket.write(Buffer.concat([RawSocket.frameHeader(7_000), Buffer.alloc(6_000, 0x62)]));
    expect(await second.closedWithin(GONE_WITHIN_MS)).toBe(true);
    expect(observer.refused).toEqual(['node_byte_limit']);
    expect(first.socket.destroyed).toBe(false);
  });

  it('counts IPv6 clients behind a trusted CIDR range by /64', async () => {
    const { url, observer } = await startServer({ trustedProxies: ['127.0.0.0/8'], maxPendingSocketsPerAddress: 2, helloTimeoutMs: 60_000 });
    await raw(url, { 'x-forwarded-for': '2001:db8:1:2::1' });
    await raw(url, { 'x-forwarded-for': '2001:db8:1:2::2' });
    const sameSlash64 = await raw(url, { 'x-forwarded-for': '2001:db8:1:2:ffff:ffff:ffff:3' });
    const otherSlash64 = await raw(url, { 'x-forwarded-for': '2001:db8:1:3::1' });
    expect(await sameSlash64.closedWithin(GONE_WITHIN_MS)).toBe(true);
    expect(sameSlash64.closeCode()).toBe(4008);
    // The other /64 is its own source: still open after the refused one is gone.
    expect(otherSlash64.socket.destroyed).toBe(false);
    expect(observer.refused).toEqual(['per_source_limit']);
  });
});
