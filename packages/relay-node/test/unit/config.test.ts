import { describe, expect, it } from 'vitest';
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

describe('configuration', () => {
  it('reports every problem at once, naming each variable and never echoing values', () => {
    let caught: unknown;
    try {
      loadConfig({ WECOM_ENCODING_AES_KEY: 'too-short-secret-value', PORT: 'eighty', LOCALE: 'fr' }, { envFile: null });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RelayError);
    const err = caught as RelayError;
    expect(err.code).toBe('CONFIG_INVALID');
    for (const name of ['WECOM_CORPID', 'WECOM_APP_SECRET', 'WECOM_TOKEN', 'WECOM_ENCODING_AES_KEY', 'WECOM_OPEN_KFID', 'RELAY_AUTH_SECRET', 'PORT', 'LOCALE']) {
      expect(err.message).toContain(name);
    }
    expect(err.message).not.toContain('too-short-secret-value');
  });

  it("accepts the deployed relay's variables alone and fills in defaults", () => {
    const config = loadConfig(valid, { envFile: null });
    expect(config.wecom.apiBase).toBe('https://qyapi.weixin.qq.com');
    expect(config.httpPort).toBe(8080);
    expect(config.wsPort).toBe(8081);
    expect(config.locale).toBe('zh');
    expect(config.storage.bindings).toBe('sqlite');
    expect(config.auth.legacySharedSecret).toBe(false);
    expect(Object.isFrozen(config) && Object.isFrozen(config.wecom)).toBe(true);
  });

  it('keeps bindings in Redis by default in cluster mode, in SQLite when the operator says so', () => {
    expect(loadConfig({ ...valid, REDIS_URL: 'redis://127.0.0.1:6379' }, { envFile: null }).storage.bindings).toBe('redis');
    expect(
      loadConfig({ ...valid, REDIS_URL: 'redis://127.0.0.1:6379', BINDINGS_STORE: 'sqlite' }, { envFile: null }).storage.bindings,
    ).toBe('sqlite');
  });

  it('treats empty values as unset and strips a trailing slash from the API base', () => {
    const config = loadConfig({ ...valid, PORT: '', WECOM_API_BASE: 'http://127.0.0.1:9100/' }, { envFile: null });
    expect(config.httpPort).toBe(8080);
    expect(config.wecom.apiBase).toBe('http://127.0.0.1:9100');
  });
});
