import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';

const started: RedisHandle[] = [];
const clients: Redis[] = [];

function client(url: string): Redis {
  // No retries: a test that expects the server gone must not wait on reconnects.
  const c = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const h of started.splice(0)) await h.stop();
});

async function start(opts?: { appendOnly?: boolean }): Promise<RedisHandle> {
  // These tests kill and restart their servers.
  const handle = await startRedis({ ...opts, restartable: true });
  started.push(handle);
  return handle;
}

async function withEnv<T>(name: string, value: string, run: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return await run();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

describe('startRedis (own server)', () => {
  it('starts its own server for a test that restarts Redis, even when REDIS_URL names a shared one', async () => {
    const shared = await start();
    const own = await withEnv('REDIS_URL', shared.url, () => startRedis({ restartable: true }));
    started.push(own);
    expect(own.ownServer).toBe(true);
    expect(own.port).not.toBe(shared.port);
    await own.restart();
    expect(await client(own.url).ping()).toBe('PONG');
  });

  it('starts a private server that answers on the handle’s url', async () => {
    const handle = await start();
    expect(handle.ownServer).toBe(true);
    expect(handle.url).toBe(`redis://${handle.host}:${handle.port}`);
    expect(await client(handle.url).ping()).toBe('PONG');
  });

  it('with appendOnly, data survives kill() and restart() on the same port', async () => {
    const handle = await start({ appendOnly: true });
    const c = client(handle.url);
    await c.set('survivor', 'still');
    c.disconnect();
    await handle.kill();
    await handle.restart();
    expect(await client(handle.url).get('survivor')).toBe('still');
  });

  it('without appendOnly, restart() brings back an empty server on the same port', async () => {
    const handle = await start();
    const c = client(handle.url);
    await c.set('gone', 'soon');
    c.disconnect();
    await handle.restart();
    expect(await client(handle.url).get('gone')).toBeNull();
  });

  it('stop() shuts the server down, removes its data dir, and is idempotent', async () => {
    const handle = await startRedis({ restartable: true });
    const c = client(handle.url);
    const [, dir] = (await c.config('GET', 'dir')) as [string, string];
    expect(existsSync(dir)).toBe(true);
    c.disconnect();
    await handle.stop();
    await handle.stop();
    expect(existsSync(dir)).toBe(false);
    await expect(client(handle.url).ping()).rejects.toThrow();
  });
});

describe('startRedis with REDIS_URL', () => {
  it('uses the shared server, never stops it, and refuses kill/restart with a clear coded error', async () => {
    const own = await start();
    const shared = await withEnv('REDIS_URL', own.url, () => startRedis());
    expect(shared.ownServer).toBe(false);
    expect(shared.url).toBe(own.url);
    expect(shared.port).toBe(own.port);
    await expect(shared.kill()).rejects.toMatchObject({ code: 'REDIS_NOT_OWNED', message: expect.stringMatching(/its own Redis server/) });
    await expect(shared.restart()).rejects.toMatchObject({ code: 'REDIS_NOT_OWNED' });
    await shared.stop();
    expect(await client(own.url).ping()).toBe('PONG');
  });

  it('fails clearly when nothing answers at REDIS_URL', async () => {
    const port = await freePort();
    await expect(withEnv('REDIS_URL', `redis://127.0.0.1:${port}`, () => startRedis())).rejects.toMatchObject({
      code: 'REDIS_UNAVAILABLE',
    });
  });
});

describe('test kit helpers', () => {
  it('uniquePrefix never repeats and never contains a hash tag', () => {
    const prefixes = Array.from({ length: 1000 }, () => uniquePrefix('a{b}c'));
    expect(new Set(prefixes).size).toBe(1000);
    expect(prefixes.filter((p) => /[{}]/.test(p))).toEqual([]);
  });

  it('freePort gives a port that can be listened on', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
