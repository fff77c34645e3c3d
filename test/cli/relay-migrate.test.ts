import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisBindingStore,
  RedisPendingBindingStore,
  RedisShardedBindingStore,
  RedisSyncCoordinator,
  SqliteBindingStore,
  SqliteSyncCoordinator,
  openSqliteDatabase,
} from '@wecom-relay/relay-node';
import { REPO_ROOT, TSX_BIN, startRedis, startRedisCluster, uniquePrefix, type RedisClusterHandle, type RedisHandle } from '@wecom-relay/testkit';
import { createDeployedDatabase, inspectStateFile } from '../../packages/relay-node/test/support/deployed-database.js';

const run = promisify(execFile);
const KFID = 'wkMIGRATE0001';

/** Runs `pnpm relay ...` the way an operator would. */
async function relayCli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(TSX_BIN, ['packages/relay-node/src/cli/relay-cli.ts', ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const DEPLOYED = {
  bindings: [
    ['wmAlice', 'gw-a'],
    ['wmBob', 'gw-b'],
  ] as Array<[string, string]>,
  pending: [
    { token: '0a1b2c3d', gatewayId: 'gw-a' },
    { token: 'deadbeef', gatewayId: 'gw-b', minutesLeft: -1 },
  ],
  cursor: 'DEPLOYED-CURSOR-7',
};

describe('pnpm relay migrate sqlite:<file> redis://...', () => {
  let redis: RedisHandle;
  let client: Redis;
  let dir: string;
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
    dir = mkdtempSync(join(tmpdir(), 'relay-migrate-'));
  }, 60_000);
  afterAll(async () => {
    await client?.quit();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What a cluster node would find in Redis under `prefix`. */
  async function inRedis(prefix: string) {
    const bindings = new RedisBindingStore({ redis: client, prefix });
    const pending = new RedisPendingBindingStore({ redis: client, prefix });
    const lease = await new RedisSyncCoordinator({ redis: client, prefix }).tryAcquire(KFID, 5_000);
    if (!lease) throw new Error('lease held');
    const cursor = await lease.cursor();
    // The cursor must be one a puller can move on from: its fenced commit goes through.
    const committable = await lease.commitCursor(cursor ?? '');
    if (cursor !== null) await lease.commitCursor(cursor);
    await lease.release();
    // The gateway asks for a QR right after the move: it must get a new token, never the carried one that a
    // customer may still be about to type.
    const asked = await pending.issue('feedf00d', 'gw-a', 10 * 60_000, { reuseWithinMs: 60_000, maxLive: 100, ratePerWindow: 100, rateWindowMs: 60_000 });
    return {
      alice: await bindings.gatewayFor('wmAlice'),
      bob: await bindings.gatewayFor('wmBob'),
      asked,
      ttl: await client.pttl(`${prefix}{binding-tokens}:token:0a1b2c3d`),
      live: await pending.consume('0a1b2c3d', 'evt-live', 60_000),
      expired: await pending.consume('deadbeef', 'evt-expired', 60_000),
      cursor,
      committable,
    };
  }

  it("carries bindings, live tokens and the cursor from the deployed relay's file, which stays as it was", async () => {
    const file = join(dir, 'deployed.db');
    createDeployedDatabase(file, DEPLOYED);
    const env = { REDIS_KEY_PREFIX: uniquePrefix('migrate'), WECOM_OPEN_KFID: KFID };

    const out = await relayCli(['migrate', `sqlite:${file}`, redis.url], env);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("migrated the deployed relay's database");
    expect(out.stdout).toContain('2 bindings, 1 pending tokens (1 expired left out)');
    expect(out.stdout).toContain(`sync cursor of ${KFID}: carried`);

    const state = await inRedis(env.REDIS_KEY_PREFIX);
    expect(state).toMatchObject({ alice: 'gw-a', bob: 'gw-b', live: 'gw-a', expired: null, cursor: DEPLOYED.cursor, committable: true });
    expect(state.asked).toEqual({ outcome: 'created', token: 'feedf00d' });
    expect(state.ttl).toBeGreaterThan(8 * 60_000);
    expect(state.ttl).toBeLessThanOrEqual(10 * 60_000);

    expect(inspectStateFile(file)).toEqual({ tables: ['bindings', 'kv', 'pending_bindings'], deployedCursor: DEPLOYED.cursor });

    const again = await relayCli(['migrate', `sqlite:${file}`, redis.url], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('sync cursor of wkMIGRATE0001: same');
  }, 60_000);

  it("carries the cursor from this relay's own (upgraded) file too, with --open-kfid", async () => {
    const file = join(dir, 'upgraded.db');
    createDeployedDatabase(file, DEPLOYED);
    openSqliteDatabase(file, { openKfid: KFID }).close();
    const env = { REDIS_KEY_PREFIX: uniquePrefix('migrate') };
    const out = await relayCli(['migrate', `sqlite:${file}`, redis.url, '--open-kfid', KFID], env);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('a single-node database');
    expect(await inRedis(env.REDIS_KEY_PREFIX)).toMatchObject({ alice: 'gw-a', live: 'gw-a', cursor: DEPLOYED.cursor, committable: true });
  }, 60_000);

  it('refuses to overwrite a different cursor, or to write while a node holds the sync lease', async () => {
    const file = join(dir, 'deployed-2.db');
    createDeployedDatabase(file, DEPLOYED);
    const prefix = uniquePrefix('migrate');
    const coordinator = new RedisSyncCoordinator({ redis: client, prefix });
    const lease = await coordinator.tryAcquire(KFID, 60_000);
    const busy = await relayCli(['migrate', `sqlite:${file}`, redis.url, '--open-kfid', KFID], { REDIS_KEY_PREFIX: prefix });
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain('stop the nodes');
    await lease?.commitCursor('ANOTHER-CURSOR');
    await lease?.release();

    const other = await relayCli(['migrate', `sqlite:${file}`, redis.url, '--open-kfid', KFID], { REDIS_KEY_PREFIX: prefix });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('different sync cursor');
    expect(await new RedisBindingStore({ redis: client, prefix }).gatewayFor('wmAlice')).toBeNull();
  }, 60_000);

  it("carries every listed account's cursor and each binding's account from a file serving several accounts", async () => {
    const file = join(dir, 'two-accounts.db');
    const second = 'wkMIGRATE0002';
    const db = openSqliteDatabase(file, { openKfid: KFID });
    const sync = new SqliteSyncCoordinator(db);
    for (const [kf, cursor] of [[KFID, 'CURSOR-FIRST'], [second, 'CURSOR-SECOND']] as const) {
      const lease = (await sync.tryAcquire(kf, 5_000))!;
      await lease.commitCursor(cursor);
      await lease.release();
    }
    const fileBindings = new SqliteBindingStore(db);
    await fileBindings.bindInOrder('wmAlice', 'gw-a', { at: 100, eventId: 'scan-a', openKfid: KFID });
    await fileBindings.bindInOrder('wmBob', 'gw-b', { at: 200, eventId: 'scan-b', openKfid: second });
    db.close();
    const prefix = uniquePrefix('migrate-kf');
    const out = await relayCli(['migrate', `sqlite:${file}`, redis.url], { REDIS_KEY_PREFIX: prefix, WECOM_OPEN_KFID: `${KFID},${second}` });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`sync cursor of ${KFID}: carried, sync cursor of ${second}: carried`);
    const coordinator = new RedisSyncCoordinator({ redis: client, prefix });
    for (const [kf, cursor] of [[KFID, 'CURSOR-FIRST'], [second, 'CURSOR-SECOND']] as const) {
      const lease = (await coordinator.tryAcquire(kf, 5_000))!;
      expect(await lease.cursor()).toBe(cursor);
      await lease.release();
    }
    const bindings = new RedisBindingStore({ redis: client, prefix });
    expect(await bindings.gatewayFor('wmBob')).toBe('gw-b');
    expect(await bindings.accountOf('wmBob')).toBe(second);
    expect(await bindings.accountOf('wmAlice')).toBe(KFID);
    // The binding event came along: the same scan pulled again changes nothing, an older one is refused.
    expect((await bindings.bindInOrder('wmBob', 'gw-x', { at: 150, eventId: 'scan-old' })).outcome).toBe('stale');
  }, 60_000);

  it('asks for the kf account when none is given', async () => {
    const file = join(dir, 'deployed-3.db');
    createDeployedDatabase(file, DEPLOYED);
    const out = await relayCli(['migrate', `sqlite:${file}`, redis.url]);
    expect(out.code).toBe(78);
    expect(out.stderr).toContain('--open-kfid');
  }, 60_000);
});

describe('pnpm relay migrate sqlite:<file> redis-cluster://... (a Redis Cluster)', () => {
  let redisCluster: RedisClusterHandle;
  let client: Cluster;
  let dir: string;
  beforeAll(async () => {
    redisCluster = await startRedisCluster();
    client = new Cluster(redisCluster.seeds.map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) })));
    client.on('error', () => undefined);
    dir = mkdtempSync(join(tmpdir(), 'relay-migrate-cluster-'));
  }, 120_000);
  afterAll(async () => {
    client?.disconnect();
    await redisCluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("carries bindings (spread per user, as the cluster's nodes read them), live tokens and the cursor", async () => {
    const file = join(dir, 'deployed.db');
    createDeployedDatabase(file, DEPLOYED);
    const prefix = uniquePrefix('migrate-rc');
    const seeds = `redis-cluster://${redisCluster.seeds.slice(0, 2).join(',')}`;
    const out = await relayCli(['migrate', `sqlite:${file}`, seeds], { REDIS_KEY_PREFIX: prefix, WECOM_OPEN_KFID: KFID });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('2 bindings, 1 pending tokens (1 expired left out)');
    expect(out.stdout).toContain(`sync cursor of ${KFID}: carried`);

    // Read back with the stores a node on this cluster runs.
    const bindings = new RedisShardedBindingStore({ redis: client, prefix });
    expect(await bindings.gatewayFor('wmAlice')).toBe('gw-a');
    expect(await bindings.usersOf('gw-b')).toEqual(['wmBob']);
    // Each user's binding under its own slot, not under one tag for all.
    expect(await client.hget(`${prefix}{user:wmAlice}:binding`, 'gw')).toBe('gw-a');
    const lease = (await new RedisSyncCoordinator({ redis: client, prefix }).tryAcquire(KFID, 5_000))!;
    expect(await lease.cursor()).toBe(DEPLOYED.cursor);
    await lease.release();
    const pending = new RedisPendingBindingStore({ redis: client, prefix });
    expect(await pending.consume('0a1b2c3d', 'evt-live', 60_000)).toBe('gw-a');
    expect(await pending.consume('deadbeef', 'evt-expired', 60_000)).toBeNull();

    const again = await relayCli(['migrate', `sqlite:${file}`, seeds], { REDIS_KEY_PREFIX: prefix, WECOM_OPEN_KFID: KFID });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`sync cursor of ${KFID}: same`);
  }, 60_000);
});
