import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  it("starts from the deployed relay's whole .env unchanged (its ports, kf link id and database path)", () => {
    const dir = mkdtempSync(join(tmpdir(), 'deployed-env-'));
    const envFile = join(dir, '.env');
    writeFileSync(
      envFile,
      [
        '# WeCom (WeChat Work) credentials',
        'WECOM_CORPID=ww3f1c0a9e8d7b6a51',
        'WECOM_APP_SECRET=Xq3vN8bK2mR7tY1uW5zA9cD4eF6gH0jL2nP4sT6vX8y',
        'WECOM_TOKEN=Rk7Tn2Wq9Lm4',
        'WECOM_ENCODING_AES_KEY=jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
        'WECOM_OPEN_KFID=wkAbCdEfGhIjKlMnOpQrStUvWxYz012345',
        'WECOM_KF_LINK_ID=kfc0123456789abcdef',
        '',
        '# Server ports',
        'PORT=3000',
        'WS_PORT=3001',
        '',
        'RELAY_AUTH_SECRET=9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c',
        'DATABASE_PATH=./data/relay.db',
      ].join('\n'),
    );
    const config = loadConfig({}, { envFile });
    expect(config.httpPort).toBe(3000);
    expect(config.wsPort).toBe(3001);
    expect(config.storage.databasePath).toBe('./data/relay.db');
    expect(config.wecom.kfLinkId).toBe('kfc0123456789abcdef');
    expect(config.auth.legacySharedSecret).toBe(false);
  });

  it('accepts a secret shorter than 16 characters only in legacy shared-secret mode, else says what to do', () => {
    const short = { ...valid, RELAY_AUTH_SECRET: 'short-secret' };
    let caught: unknown;
    try {
      loadConfig(short, { envFile: null });
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 'CONFIG_INVALID' });
    const message = (caught as Error).message;
    expect(message).toContain('RELAY_AUTH_SECRET: must be at least 16 characters');
    expect(message).toContain('pnpm relay token');
    expect(message).toContain('RELAY_LEGACY_SHARED_SECRET_AUTH=true');
    expect(message).not.toContain('short-secret');

    const legacy = loadConfig({ ...short, RELAY_LEGACY_SHARED_SECRET_AUTH: 'true' }, { envFile: null });
    expect(legacy.auth).toEqual({ secret: 'short-secret', legacySharedSecret: true });
  });

  it('reports a short secret together with the other problems', () => {
    const err = (() => {
      try {
        loadConfig({ RELAY_AUTH_SECRET: 'short' }, { envFile: null });
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    expect(err?.message).toContain('WECOM_CORPID');
    expect(err?.message).toContain('RELAY_AUTH_SECRET: must be at least 16 characters');
  });
});
