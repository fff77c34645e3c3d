import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';

const valid = {
  WECOM_CORPID: 'ww0001',
  WECOM_APP_SECRET: 'app-secret',
  WECOM_TOKEN: 'cbtoken',
  WECOM_ENCODING_AES_KEY: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
  WECOM_OPEN_KFID: 'wk0001',
  RELAY_AUTH_SECRET: 'a-relay-secret-of-length',
};

describe('REDIS_CLUSTER_NODES', () => {
  it('takes seed nodes, the password and bindings in Redis by default', () => {
    const config = loadConfig({ ...valid, REDIS_CLUSTER_NODES: 'r1:7000,10.0.0.2:7001', REDIS_PASSWORD: 'pw-secret' }, { envFile: null });
    expect(config.storage.redis).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'r1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      tls: false,
      password: 'pw-secret',
    });
    expect(config.storage.bindings).toBe('redis');
  });

  it('uses TLS when the entries are rediss:// ones, and refuses a mix', () => {
    const config = loadConfig({ ...valid, REDIS_CLUSTER_NODES: 'rediss://r1:7000,rediss://r2:7000' }, { envFile: null });
    expect(config.storage.redis).toMatchObject({ kind: 'cluster', tls: true, nodes: [{ host: 'r1', port: 7000 }, { host: 'r2', port: 7000 }] });
    expect(() => loadConfig({ ...valid, REDIS_CLUSTER_NODES: 'rediss://r1:7000,r2:7000' }, { envFile: null })).toThrow(/REDIS_CLUSTER_NODES/);
  });

  it('refuses entries that are not host:port, and a second Redis setting beside it', () => {
    for (const bad of ['r1', 'r1:7000,', 'redis://r1:7000', 'r1:port']) {
      expect(() => loadConfig({ ...valid, REDIS_CLUSTER_NODES: bad }, { envFile: null })).toThrow(/REDIS_CLUSTER_NODES/);
    }
    expect(() =>
      loadConfig({ ...valid, REDIS_CLUSTER_NODES: 'r1:7000', REDIS_URL: 'redis://r1:6379' }, { envFile: null }),
    ).toThrow(/only one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES/);
  });
});
