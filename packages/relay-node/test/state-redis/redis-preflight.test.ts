import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';
import { createRedisBackend } from '../../src/state/redis-backend.js';
import { compareVersions, preflightRedis } from '../../src/state/redis/redis-preflight.js';
import type { StateBackend } from '../../src/state/state-backend.js';
import { capturingLogger, waitFor } from './helpers.js';

// Real servers started with the settings an operator might give the relay by mistake.
const started: RedisHandle[] = [];
const clients: Redis[] = [];
const backends: StateBackend[] = [];

afterEach(async () => {
  for (const b of backends.splice(0)) await b.close();
  for (const c of clients.splice(0)) c.disconnect();
  for (const h of started.splice(0)) await h.stop();
});

async function server(args: string[]): Promise<RedisHandle> {
  const h = await startRedis({ serverArgs: args });
  started.push(h);
  return h;
}

function client(url: string): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 1 });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

async function backendOn(url: string, logger = capturingLogger().logger): Promise<StateBackend> {
  const b = await createRedisBackend({
    redis: { kind: 'url', url },
    bindings: 'redis',
    databasePath: ':memory:',
    logger,
    prefix: uniquePrefix('preflight'),
    nodeId: 'node-7',
  });
  backends.push(b);
  return b;
}

describe('Redis start-up checks', () => {
  it('refuses a Redis that may evict keys (allkeys-lru), naming the setting to change', async () => {
    const h = await server(['--maxmemory-policy', 'allkeys-lru', '--maxmemory', '64mb']);
    await expect(preflightRedis(client(h.url), capturingLogger().logger)).rejects.toMatchObject({
      code: 'REDIS_UNSUITABLE',
      message: expect.stringMatching(/maxmemory-policy allkeys-lru.*noeviction/),
    });
    // The backend refuses to start on it, so the node exits with that one line.
    await expect(backendOn(h.url)).rejects.toMatchObject({ code: 'REDIS_UNSUITABLE' });
  });

  it('refuses volatile-lru too: any policy but noeviction', async () => {
    const h = await server(['--maxmemory-policy', 'volatile-lru']);
    await expect(backendOn(h.url)).rejects.toMatchObject({ code: 'REDIS_UNSUITABLE' });
  });

  it('accepts noeviction and reports what it checked', async () => {
    const h = await server(['--maxmemory-policy', 'noeviction']);
    const report = await preflightRedis(client(h.url), capturingLogger().logger);
    expect(report.servers).toEqual([{ address: `127.0.0.1:${h.port}`, version: expect.stringMatching(/^\d+\.\d+/), maxmemoryPolicy: 'noeviction' }]);
    const b = await backendOn(h.url);
    await b.bus.subscribe('node-7', () => undefined);
    await waitFor(() => b.isLive(), 'the backend to be live');
  });

  it('warns instead of refusing when CONFIG is not allowed (as on managed services)', async () => {
    const h = await server(['--rename-command', 'CONFIG', '']);
    const { logger, records } = capturingLogger();
    const b = await backendOn(h.url, logger);
    await b.bus.subscribe('node-7', () => undefined);
    await waitFor(() => b.isLive(), 'the backend to be live');
    expect(records.some((r) => r.level === 40 && /maxmemory-policy/.test(String(r.msg)))).toBe(true);
  });

  it('warns instead of refusing when an ACL user may run neither INFO nor CONFIG', async () => {
    const h = await server(['--user', 'relay', 'on', '>relay-pw', '~*', '&*', '+@all', '-info', '-config']);
    const url = `redis://relay:relay-pw@127.0.0.1:${h.port}`;
    await expect(client(url).config('GET', 'maxmemory-policy')).rejects.toThrow(/NOPERM/);
    const { logger, records } = capturingLogger();
    const b = await backendOn(url, logger);
    await b.bus.subscribe('node-7', () => undefined);
    await waitFor(() => b.isLive(), 'the backend to be live');
    const warnings = records.filter((r) => r.level === 40).map((r) => String(r.msg));
    expect(warnings.some((m) => /Redis version/.test(m))).toBe(true);
    expect(warnings.some((m) => /maxmemory-policy/.test(m))).toBe(true);
  });

  it('names every connection of the node so CLIENT LIST tells them apart', async () => {
    const h = await server([]);
    const b = await backendOn(h.url);
    await b.bus.subscribe('node-7', () => undefined);
    await waitFor(() => b.isLive(), 'the backend to be live');
    const list = String(await client(h.url).client('LIST'));
    const names = [...list.matchAll(/name=(\S*)/g)].map((m) => m[1]);
    expect(names).toContain('wecom-relay:node-7:commands');
    expect(names).toContain('wecom-relay:node-7:bus');
  });

  it('compares versions numerically', () => {
    expect(compareVersions('7.0.15', '7.0.9')).toBe(1);
    expect(compareVersions('6.0.16', '6.2.0')).toBe(-1);
    expect(compareVersions('6.2.0', '6.2')).toBe(0);
  });
});
