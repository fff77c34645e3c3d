import { describe, expect, it } from 'vitest';
import { DEFAULT_BINDING_LIMITS } from '../../src/binding/binding-service.js';
import { loadConfig } from '../../src/config/load-config.js';
import { RelayError } from '../../src/errors/relay-error.js';

const valid = {
  WECOM_CORPID: 'ww0001',
  WECOM_APP_SECRET: 'app-secret',
  WECOM_TOKEN: 'cbtoken',
  WECOM_ENCODING_AES_KEY: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  WECOM_OPEN_KFID: 'wk0001',
  RELAY_AUTH_SECRET: 'a-relay-secret-of-length',
};

describe('binding limits configuration', () => {
  it('defaults to what the README lists (and what BindingService uses when given none)', () => {
    const config = loadConfig(valid, { envFile: null });
    expect(config.binding).toEqual({
      reuseWithinMs: 10_000,
      maxLiveTokens: 100,
      createPerMinute: 30,
      guessLimit: 5,
      guessWindowMs: 600_000,
    });
    expect(config.binding).toEqual(DEFAULT_BINDING_LIMITS);
  });

  it('reads each setting, and refuses a live-token cap above 100', () => {
    const config = loadConfig(
      {
        ...valid,
        BINDING_TOKEN_REUSE_MS: '0',
        BINDING_MAX_LIVE_TOKENS: '20',
        BINDING_CREATE_PER_MINUTE: '5',
        BINDING_GUESS_LIMIT: '3',
        BINDING_GUESS_WINDOW_MS: '1000',
      },
      { envFile: null },
    );
    expect(config.binding).toEqual({ reuseWithinMs: 0, maxLiveTokens: 20, createPerMinute: 5, guessLimit: 3, guessWindowMs: 1000 });
    expect(() => loadConfig({ ...valid, BINDING_MAX_LIVE_TOKENS: '101' }, { envFile: null })).toThrow(RelayError);
    expect(() => loadConfig({ ...valid, BINDING_MAX_LIVE_TOKENS: '101' }, { envFile: null })).toThrow(/BINDING_MAX_LIVE_TOKENS/);
  });
});
