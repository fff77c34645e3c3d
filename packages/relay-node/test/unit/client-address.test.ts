import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { TRUST_NO_PROXY, clientAddress, compileProxyTrust, sourceKey } from '../../src/gateway/client-address.js';

const req = (peer: string, xff?: string) =>
  ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

describe('client address for per-client socket limits', () => {
  const proxies = compileProxyTrust(['10.0.0.5', '10.0.0.6']);

  it('is the TCP peer when the peer is not a trusted proxy, whatever X-Forwarded-For says', () => {
    expect(clientAddress(req('203.0.113.9', '1.2.3.4'), proxies)).toBe('203.0.113.9');
  });

  it('is the right-most untrusted hop behind trusted proxies (left-most hops can be forged by the client)', () => {
    expect(clientAddress(req('10.0.0.5', '6.6.6.6, 198.51.100.7, 10.0.0.6'), proxies)).toBe('198.51.100.7');
  });

  it('falls back to the peer when a trusted proxy sends no header, and folds IPv4-mapped IPv6', () => {
    expect(clientAddress(req('::ffff:10.0.0.5'), proxies)).toBe('10.0.0.5');
    expect(clientAddress(req('::ffff:198.51.100.7'), TRUST_NO_PROXY)).toBe('198.51.100.7');
  });

  it('trusts whole CIDR ranges, IPv4 and IPv6, and only them', () => {
    const ranges = compileProxyTrust(['10.0.0.0/8', 'fd00::/8']);
    expect(clientAddress(req('10.200.3.4', '198.51.100.7'), ranges)).toBe('198.51.100.7');
    expect(clientAddress(req('fd12:3456::1', '2001:db8::9, fd00::2'), ranges)).toBe('2001:db8::9');
    expect(clientAddress(req('11.0.0.1', '198.51.100.7'), ranges)).toBe('11.0.0.1');
    expect(clientAddress(req('fe80::1', '198.51.100.7'), ranges)).toBe('fe80::1');
  });

  it('refuses an entry that is neither an address nor a range, naming it', () => {
    expect(() => compileProxyTrust(['10.0.0.0/8', 'balancer.internal'])).toThrow(/balancer\.internal/);
    expect(() => compileProxyTrust(['10.0.0.0/33'])).toThrow();
  });
});

describe('source key of per-source limits', () => {
  it('groups IPv6 addresses by /64, so one customer line cannot rotate through its addresses', () => {
    expect(sourceKey('2001:db8:1:2::1')).toBe(sourceKey('2001:db8:1:2:ffff:ffff:ffff:ffff'));
    expect(sourceKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8:1:3::1')).not.toBe(sourceKey('2001:db8:1:2::1'));
  });

  it('keeps IPv4 addresses apart, including their IPv4-mapped IPv6 spelling', () => {
    expect(sourceKey('198.51.100.7')).toBe('198.51.100.7');
    expect(sourceKey('::ffff:198.51.100.7')).toBe('198.51.100.7');
    expect(sourceKey('198.51.100.8')).not.toBe(sourceKey('198.51.100.7'));
  });
});
