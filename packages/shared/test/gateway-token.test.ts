import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { gatewayAuthToken, timingSafeStringEqual } from '../src/index.js';

describe('gatewayAuthToken', () => {
  it('is hex HMAC-SHA256 keyed by the secret over the gateway id', () => {
    const expected = createHmac('sha256', 'relay-secret').update('gw-42').digest('hex');
    expect(gatewayAuthToken('relay-secret', 'gw-42')).toBe(expected);
    expect(gatewayAuthToken('relay-secret', 'gw-42')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('matches the RFC 4231 test case 2 value', () => {
    // Key "Jefe", data "what do ya want for nothing?".
    expect(gatewayAuthToken('Jefe', 'what do ya want for nothing?')).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
  });

  it('hashes a non-ASCII gateway id and secret as UTF-8', () => {
    const utf8 = createHmac('sha256', Buffer.from('密钥', 'utf8')).update(Buffer.from('网关-1', 'utf8')).digest('hex');
    expect(gatewayAuthToken('密钥', '网关-1')).toBe(utf8);
    // '好' (U+597D) and '}' (0x7D) share their low byte: a latin1 reading would give both one token.
    expect(gatewayAuthToken('s', '好')).not.toBe(gatewayAuthToken('s', '}'));
  });

  it('differs per gateway and per secret, so one token cannot claim another gateway', () => {
    const t = gatewayAuthToken('s', 'gw-1');
    expect(gatewayAuthToken('s', 'gw-2')).not.toBe(t);
    expect(gatewayAuthToken('s2', 'gw-1')).not.toBe(t);
  });
});

describe('timingSafeStringEqual', () => {
  it('is true only for identical strings', () => {
    const t = gatewayAuthToken('s', 'gw-1');
    expect(timingSafeStringEqual(t, t)).toBe(true);
    expect(timingSafeStringEqual('', '')).toBe(true);
    expect(timingSafeStringEqual('好', '好')).toBe(true);
    expect(timingSafeStringEqual(t, `${t.slice(0, -1)}${t.endsWith('0') ? '1' : '0'}`)).toBe(false);
    expect(timingSafeStringEqual(t, t.toUpperCase())).toBe(false);
  });

  it('compares every character, not only its low byte', () => {
    // '好' (U+597D) and '}' (0x7D) are equal as latin1 bytes.
    expect(timingSafeStringEqual('好', '}')).toBe(false);
    expect(timingSafeStringEqual('}', '好')).toBe(false);
    expect(timingSafeStringEqual('gw-好', 'gw-}')).toBe(false);
  });

  it('is false on a length mismatch instead of throwing', () => {
    expect(timingSafeStringEqual('abc', 'abcd')).toBe(false);
    expect(timingSafeStringEqual('', 'a')).toBe(false);
    expect(timingSafeStringEqual('a'.repeat(1000), 'a')).toBe(false);
  });
});
