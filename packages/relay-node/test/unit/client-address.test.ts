import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress } from '../../src/gateway/client-address.js';

const req = (peer: string, xff?: string) =>
  ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('client address for per-client socket limits', () => {
  const proxies = new Set(['10.0.0.5', '10.0.0.6']);

  it('is the TCP peer when the peer is not a trusted proxy, whatever X-Forwarded-For says', () => {
    expect(clientAddress(req('203.0.113.9', '1.2.3.4'), proxies)).toBe('203.0.113.9');
  });

  it('is the right-most untrusted hop behind trusted proxies (left-most hops can be forged by the client)', () => {
    expect(clientAddress(req('10.0.0.5', '6.6.6.6, 198.51.100.7, 10.0.0.6'), proxies)).toBe('198.51.100.7');
  });

  it('falls back to the peer when a trusted proxy sends no header, and folds IPv4-mapped IPv6', () => {
    expect(clientAddress(req('::ffff:10.0.0.5'), proxies)).toBe('10.0.0.5');
    expect(clientAddress(req('::ffff:198.51.100.7'), new Set())).toBe('198.51.100.7');
  });
});
