import { describe, expect, it } from 'vitest';
import { parseRawQuery } from '../../src/http/raw-query.js';

describe('webhook query parsing', () => {
  it('keeps a literal + (URLSearchParams would turn it into a space and break the echostr)', () => {
    const q = parseRawQuery('/webhook?echostr=ab+cd%2Fef%3D%3D&nonce=1');
    expect(q?.get('echostr')).toBe('ab+cd/ef==');
    expect(q?.get('nonce')).toBe('1');
  });

  it('decodes the official vector A1 echostr as sent on the wire', () => {
    const wire =
      'P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D';
    expect(parseRawQuery(`/webhook?echostr=${wire}`)?.get('echostr')).toBe(
      'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
    );
  });

  it('returns null for malformed percent-encoding instead of throwing', () => {
    expect(parseRawQuery('/webhook?nonce=%E0%A4%A')).toBeNull();
  });

  it('takes the first of repeated keys', () => {
    expect(parseRawQuery('/w?a=1&a=2')?.get('a')).toBe('1');
  });
});
