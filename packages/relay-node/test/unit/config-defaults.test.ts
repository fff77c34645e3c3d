import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { BINDING_TOKEN_TTL_MS } from '../../src/binding/binding-service.js';

const required = {
  WECOM_CORPID: 'ww0001',
  WECOM_APP_SECRET: 'app-secret',
  WECOM_TOKEN: 'cbtoken',
  WECOM_ENCODING_AES_KEY: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  WECOM_OPEN_KFID: 'wk0001',
  RELAY_AUTH_SECRET: 'a-relay-secret-of-length',
};

describe('documented defaults, by value', () => {
  it('fills every optional setting with the value the README documents', () => {
    const config = loadConfig(required, { envFile: null });
    expect(config).toMatchObject({
      host: '0.0.0.0',
      httpPort: 8080,
      wsPort: 8081,
      locale: 'zh',
      logLevel: 'info',
      logFormat: 'auto',
      wecom: { apiBase: 'https://qyapi.weixin.qq.com', kfLinkId: undefined },
      auth: { secret: required.RELAY_AUTH_SECRET, legacySharedSecret: false },
      previous: { authSecret: undefined, wecomToken: undefined, wecomEncodingAesKey: undefined },
      storage: { databasePath: './data/relay.db', redis: undefined, redisKeyPrefix: 'wr:', bindings: 'sqlite' },
      gateway: {
        helloTimeoutMs: 5_000,
        pingIntervalMs: 30_000,
        pongTimeoutMs: 10_000,
        maxPendingSocketsPerAddress: 64,
        trustedProxies: [],
      },
      limits: { maxWebhookBytes: 65_536, mediaMaxBytes: 10_485_760, mediaConcurrency: 4 },
      sync: { pollIntervalMs: 30_000, firstPullMaxAgeMs: 600_000 },
      queue: { maxAgeMs: 259_200_000, maxItems: 1_000 },
      drain: { spreadMs: 5_000 },
      idleCollectAfterMs: 1_000,
    });
    // NODE_ID: hostname + 6 random hex characters, different for every process.
    expect(config.nodeId).toMatch(/^[A-Za-z0-9._-]+-[0-9a-f]{6}$/);
    expect(loadConfig(required, { envFile: null }).nodeId).not.toBe(config.nodeId);
  });

  it('runs a cluster node on Redis with the documented Sentinel name and bindings in Redis', () => {
    const config = loadConfig({ ...required, REDIS_SENTINELS: 'a:26379,b:26380' }, { envFile: null });
    expect(config.storage.redis).toEqual({
      kind: 'sentinel',
      sentinels: [{ host: 'a', port: 26379 }, { host: 'b', port: 26380 }],
      name: 'mymaster',
      password: undefined,
    });
    expect(config.storage.bindings).toBe('redis');
  });

  it('keeps a binding link valid for 10 minutes', () => {
    expect(BINDING_TOKEN_TTL_MS).toBe(600_000);
  });
});
