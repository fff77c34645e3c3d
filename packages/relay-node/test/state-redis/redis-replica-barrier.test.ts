import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, uniquePrefix, type SpawnedRedis } from '@wecom-relay/testkit';
import { createRedisBackend } from '../../src/state/redis-backend.js';
import { replicaBarrier } from '../../src/state/redis/redis-replica-barrier.js';
import { RedisSyncCoordinator } from '../../src/state/redis/redis-sync-coordinator.js';
import type { StateBackend } from '../../src/state/state-backend.js';
import { capturingLogger, commandCalls, sending, waitFor } from './helpers.js';

// The failover rule in its single-master form (REDIS_URL or a Sentinel group: the same client path): the cursor
// moves past a page only once the page's appends are on the master's replica.
describe('one Redis master with a replica: the sync cursor waits for the replica', () => {
  let master: SpawnedRedis;
  let replica: SpawnedRedis | undefined;
  let b: StateBackend;
  let probe: Redis;
  const log = capturingLogger();
  const prefix = uniquePrefix('barrier');
  // INFO calls the master has run, less the commandstats reads made here to count them (each is an INFO).
  let ownReads = 0;
  const scriptInfos = async (): Promise<number> => ((await commandCalls(probe)).get('info') ?? 0) - ownReads++;

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

  it('asks the master about replicas in the commit itself: one round trip per commit without a replica', async () => {
    const client = new Redis(master.url);
    // Ready first: ioredis's own ready check asks INFO too.
    await client.ping();
    try {
      const sync = new RedisSyncCoordinator({ redis: client, prefix, barrier: replicaBarrier(client, { logger: log.logger }) });
      const lease = (await sync.tryAcquire('kf-one', 60_000))!;
      for (const cursor of ['o1', 'o2', 'o3']) {
        await client.set(`${prefix}one`, cursor);
        const before = await scriptInfos();
        const { result, sent } = await sending(client, () => lease.commitCursor(cursor));
        expect(result).toBe(true);
        expect(sent).toEqual(['evalsha']);
        // Asked all the same, by the script: a replica that connects is found by the next commit.
        expect((await scriptInfos()) - before).toBe(1);
      }
      expect(await lease.cursor()).toBe('o3');
    } finally {
      client.disconnect();
    }
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

  it('waits on a replica the commit finds before committing, then on that master without asking again until a wait goes unacknowledged', { timeout: 60_000 }, async () => {
    const client = new Redis(master.url);
    await client.ping();
    // A barrier that has not seen the replica (a node started before it connected).
    const sync = new RedisSyncCoordinator({ redis: client, prefix, barrier: replicaBarrier(client, { logger: log.logger, timeoutMs: 200 }) });
    const waits = async (): Promise<number> => {
      ownReads += 1;
      return (await commandCalls(probe)).get('wait') ?? 0;
    };
    const infos = scriptInfos;
    try {
      const lease = (await sync.tryAcquire('kf-found', 60_000))!;
      process.kill(replica!.pid!, 'SIGSTOP');
      try {
        await client.set(`${prefix}found`, '1');
        // The script finds the replica, so the commit is not made until the replica has the write.
        await expect(lease.commitCursor('f1')).rejects.toMatchObject({ code: 'STATE_NOT_REPLICATED' });
        expect(await probe.hget(`${prefix}{kf:kf-found}:cursor`, 'value')).toBeNull();
      } finally {
        process.kill(replica!.pid!, 'SIGCONT');
      }
      await waitFor(async () => (await lease.commitCursor('f1').catch(() => false)) === true, 'the commit once the replica caught up', 20_000);
      const onReplica = new Redis(replica!.url);
      try {
        expect(await onReplica.hget(`${prefix}{kf:kf-found}:cursor`, 'value')).toBe('f1');
      } finally {
        onReplica.disconnect();
      }
      const [infosBefore, waitsBefore] = [await infos(), await waits()];
      for (let page = 0; page < 5; page++) {
        await client.set(`${prefix}found`, String(page));
        const { result, sent } = await sending(client, () => lease.commitCursor(`g${page}`));
        expect(result).toBe(true);
        expect(sent).toEqual(['wait', 'evalsha']);
      }
      // Every page waited on, none asked about, not even by the script.
      expect(await infos()).toBe(infosBefore);
      expect((await waits()) - waitsBefore).toBe(5);
      process.kill(replica!.pid!, 'SIGSTOP');
      try {
        await client.set(`${prefix}found`, 'x');
        await expect(lease.commitCursor('h1')).rejects.toMatchObject({ code: 'STATE_NOT_REPLICATED' });
      } finally {
        process.kill(replica!.pid!, 'SIGCONT');
      }
      await waitFor(async () => (await lease.commitCursor('h1').catch(() => false)) === true, 'the commit once the replica caught up', 20_000);
      // Asked again (by the commit script) once a wait went unacknowledged.
      expect(await infos()).toBeGreaterThan(infosBefore);
      expect(await lease.cursor()).toBe('h1');
    } finally {
      client.disconnect();
    }
  });
});
