import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG } from '../../src/errors/error-catalog.js';
import { RelayError } from '../../src/errors/relay-error.js';

describe('error catalog', () => {
  const entries = Object.entries(ERROR_CATALOG) as Array<[keyof typeof ERROR_CATALOG, (typeof ERROR_CATALOG)[keyof typeof ERROR_CATALOG]]>;

  it('has a message for every code, and codes in UPPER_SNAKE_CASE', () => {
    for (const [code, entry] of entries) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(entry.message.length).toBeGreaterThan(0);
    }
  });

  it('uses each close code once, in the ranges the WebSocket spec allows', () => {
    const closeCodes = entries.flatMap(([, e]) => ('closeCode' in e ? [e.closeCode] : []));
    expect(new Set(closeCodes).size).toBe(closeCodes.length);
    for (const c of closeCodes) expect(c === 1012 || (c >= 4000 && c <= 4999)).toBe(true);
  });

  it("keeps the deployed relay's close codes", () => {
    expect(ERROR_CATALOG.HELLO_TIMEOUT.closeCode).toBe(4001);
    expect(ERROR_CATALOG.HELLO_REQUIRED.closeCode).toBe(4002);
    expect(ERROR_CATALOG.AUTH_FAILED.closeCode).toBe(4003);
  });

  it('gives HTTP errors a 4xx or 5xx status', () => {
    for (const [, e] of entries) if ('status' in e) expect(e.status).toBeGreaterThanOrEqual(400);
  });

  it('builds errors that carry their code, status and close code', () => {
    const err = new RelayError('AUTH_FAILED');
    expect(err.code).toBe('AUTH_FAILED');
    expect(err.closeCode).toBe(4003);
    expect(err.message).toBe(ERROR_CATALOG.AUTH_FAILED.message);
    expect(new RelayError('WEBHOOK_SIGNATURE_INVALID').status).toBe(401);
  });
});
