import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniquePrefix, type SpawnedRedis } from '@wecom-relay/testkit';
import { createRedisBackend } from '../../src/state/redis-backend.js';
import { replicaBarrier } from '../../src/state/redis/redis-replica-barrier.js';
import type { StateBackend } from '../../src/state/state-backend.js';
import { capturingLogger, waitFor } from './helpers.js';

// The failover rule in its single-master form (REDIS_URL or a Sentinel group: the same client path): the cursor
// moves past a page only once the page's appends are on the master's replica.
describe('one Redis master with a replica: the sync cursor waits for the replica', () => {
  let master: SpawnedRedis;
  let replica: SpawnedRedis | undefined;
  let b: StateBackend;
  let probe: Redis;
  const log = capturingLogger();
  const prefix = uniquePrefix('barrier');

  beforeAll(async () => {
    master = (await startRedis({ serverArgs: ['--repl-diskless-sync-delay', '0'] })) as SpawnedRedis;
    probe = new Redis(master.url);
    b = await createRedisBackend({ redis: { kind: 'url', url: master.url }, bindings: 'redis', databasePath: ':memory:', logger: log.logger, prefix, nodeId: 'barrier-0' });
  }, 60_000);

  afterAll(async () => {
    if (replica?.pid) process.kill(replica.pid, 'SIGCONT');
    await b?.close();
    probe?.disconnect();
    await replica?.stop();
    await master?.stop();
  }, 60_000);

  it('commits at once, with one warning, while the master has no replica', async () => {
    const lease = (await b.sync.tryAcquire('kf-solo', 60_000))!;
    await b.queue.append('gw-solo', { type: 'text', n: 1 } as never, { dedupKey: 'solo-1' });
    expect(await lease.commitCursor('s1')).toBe(true);
    await b.queue.append('gw-solo', { type: 'text', n: 2 } as never, { dedupKey: 'solo-2' });
    expect(await lease.commitCursor('s2')).toBe(true);
    expect(log.records.filter((r) => /has no connected replica/.test(String(r.msg)))).toHaveLength(1);
    await lease.release();
  });

  it('refuses the commit (STATE_NOT_REPLICATED) while the replica does not acknowledge, and makes it once it does', { timeout: 60_000 }, async () => {
    replica = (await startRedis({ serverArgs: ['--replicaof', master.host, String(master.port)] })) as SpawnedRedis;
    await waitFor(async () => /slave0:.*state=online/.test(String(await probe.info('replication'))), 'the replica to be in sync', 30_000);
    const lease = (await b.sync.tryAcquire('kf-w', 60_000))!;
    // A replica that has only just come online can take longer than the 1 s WAIT to acknowledge on a loaded machine
    // (the commit is then refused, as it should be): the first commit is the starting point, so it may take tries.
    await waitFor(async () => (await lease.commitCursor('c1').catch(() => false)) === true, 'a first commit with the replica online', 30_000);
    // A replica that stops acknowledging (stopped, not dead: the master still counts it as connected).
    process.kill(replica.pid!, 'SIGSTOP');
    try {
      await b.queue.append('gw-w', { type: 'text', n: 1 } as never, { dedupKey: 'm-w1' });
      await expect(lease.commitCursor('c2')).rejects.toMatchObject({ code: 'STATE_NOT_REPLICATED' });
      expect(await lease.cursor()).toBe('c1');
    } finally {
      process.kill(replica.pid!, 'SIGCONT');
    }
    await waitFor(async () => (await lease.commitCursor('c2').catch(() => false)) === true, 'the commit once the replica caught up', 30_000);
    expect(await lease.cursor()).toBe('c2');
    // What the commit waited for is on the replica: the promoted copy would hold the page and its cursor.
    const onReplica = new Redis(replica.url);
    try {
      expect(await onReplica.hget(`${prefix}{kf:kf-w}:cursor`, 'value')).toBe('c2');
    } finally {
      onReplica.disconnect();
    }
  });

  it('waits on a master seen with a replica without asking it again, until a wait goes unacknowledged', { timeout: 30_000 }, async () => {
    const client = new Redis(master.url);
    // Ready first: ioredis's own ready check asks INFO too.
    await client.ping();
    let asked = 0;
    const info = client.info.bind(client);
    client.info = ((...args: Parameters<typeof info>) => {
      asked += 1;
      return info(...args);
    }) as typeof client.info;
    const barrier = replicaBarrier(client, { logger: log.logger, timeoutMs: 200 });
    const waits = async (): Promise<number> => Number(/cmdstat_wait:calls=(\d+)/.exec(String(await probe.info('commandstats')))?.[1] ?? 0);
    try {
      await client.set(`${prefix}late`, '1');
      await waitFor(async () => await barrier().then(() => true, () => false), 'a wait the replica acknowledged', 20_000);
      const [askedBefore, waitsBefore] = [asked, await waits()];
      for (let page = 0; page < 5; page++) {
        await client.set(`${prefix}late`, String(page));
        await barrier();
      }
      // Every page waited on, none asked about.
      expect(asked).toBe(askedBefore);
      expect((await waits()) - waitsBefore).toBe(5);
      process.kill(replica!.pid!, 'SIGSTOP');
      try {
        await client.set(`${prefix}late`, 'x');
        await expect(barrier()).rejects.toMatchObject({ code: 'STATE_NOT_REPLICATED' });
      } finally {
        process.kill(replica!.pid!, 'SIGCONT');
      }
      await waitFor(async () => await barrier().then(() => true, () => false), 'the wait once the replica caught up', 20_000);
      expect(asked).toBeGreaterThan(askedBefore);
    } finally {
      client.disconnect();
    }
  });
});
