import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { SyncMsgResponse } from '@wecom-relay/shared';
import { startRedis, testCorp } from '@wecom-relay/testkit';
import { createMetrics, type RelayMetrics } from '../../src/observability/metrics.js';
import { closeCodeLabel } from '../../src/observability/operator-metrics.js';
import { instrumentRedisCommands } from '../../src/observability/redis-command-metrics.js';
import { SyncLoop } from '../../src/inbound/sync-loop.js';
import { MemorySyncCoordinator } from '../../src/state/memory/memory-sync-coordinator.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createSingleNodeBackend } from '../../src/state/single-node-backend.js';
import { RelayNode } from '../../src/relay-node.js';

const silent = pino({ level: 'silent' });

/** One sample of a metric, by its labels, as /metrics would show it. */
async function value(metrics: RelayMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const found = values.find((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l) && (v as { metricName?: string }).metricName === undefined);
  return found?.value;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('sync freshness and lease metrics', () => {
  it('shows the lease held while this node pulls, and records when a pull finished', async () => {
    const metrics = createMetrics();
    const page = deferred<SyncMsgResponse>();
    let asked = 0;
    const loop = new SyncLoop({
      openKfid: 'wk-metrics',
      source: {
        syncMsg: () => {
          asked += 1;
          return page.promise;
        },
      },
      coordinator: new MemorySyncCoordinator(),
      sink: async () => undefined,
      logger: silent,
      metrics,
      now: () => 1_700_000_000_000,
      pollIntervalMs: 600_000,
    });
    try {
      loop.start();
      for (let i = 0; i < 200 && asked === 0; i += 1) await new Promise((r) => setTimeout(r, 10));
      expect(asked).toBe(1);
      expect(await value(metrics, 'relay_sync_lease_held', { open_kfid: 'wk-metrics' })).toBe(1);
      expect(await value(metrics, 'relay_sync_last_success_timestamp_seconds', { open_kfid: 'wk-metrics' })).toBeUndefined();
      page.resolve({ errcode: 0, errmsg: 'ok', next_cursor: 'c1', has_more: 0, msg_list: [] });
      await loop.idle();
      expect(await value(metrics, 'relay_sync_lease_held', { open_kfid: 'wk-metrics' })).toBe(0);
      expect(await value(metrics, 'relay_sync_last_success_timestamp_seconds', { open_kfid: 'wk-metrics' })).toBe(1_700_000_000);
    } finally {
      await loop.close();
    }
  });
});

describe('Redis command metrics', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('times each command once, even one queued while disconnected, and counts failures by command', { timeout: 60_000 }, async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const metrics = createMetrics();
    const redis = new Redis(server.url, { lazyConnect: true });
    cleanups.push(async () => redis.disconnect());
    instrumentRedisCommands(redis, metrics);
    // Issued before the connection exists (lazyConnect connects on it): it waits in the offline queue and passes
    // sendCommand again when the connection is ready.
    expect(await redis.get('wr-metrics:missing')).toBeNull();
    await redis.set('wr-metrics:k', 'v');
    await expect(redis.call('nosuchcommand')).rejects.toThrow();
    const count = async (command: string) => {
      const { values } = await metrics.redisCommandDuration.get();
      return values.find((v) => v.metricName === 'relay_redis_command_duration_seconds_count' && v.labels.command === command)?.value;
    };
    expect(await count('get')).toBe(1);
    expect(await count('set')).toBe(1);
    expect(await value(metrics, 'relay_redis_command_errors_total', { command: 'nosuchcommand' })).toBe(1);
    expect(await value(metrics, 'relay_redis_command_errors_total', { command: 'get' })).toBeUndefined();
  });
});

describe('gateway close codes', () => {
  it('keeps the relay’s and the standard codes and folds any other into one label value', () => {
    expect([1000, 1006, 1012, 4001, 4003, 4004, 4008, 4009].map(closeCodeLabel)).toEqual([
      '1000',
      '1006',
      '1012',
      '4001',
      '4003',
      '4004',
      '4008',
      '4009',
    ]);
    expect([4999, 3000, 1234, 4005].map(closeCodeLabel)).toEqual(['other', 'other', 'other', 'other']);
  });
});

describe('draining, readiness and build info', () => {
  it('reads ready while running, and draining from the drain until the node has closed', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'operator-metrics-'));
    const corp = testCorp();
    const config = loadConfig(
      {
        WECOM_CORPID: corp.corpId,
        WECOM_APP_SECRET: corp.secret,
        WECOM_TOKEN: corp.token,
        WECOM_ENCODING_AES_KEY: corp.encodingAesKey,
        WECOM_OPEN_KFID: corp.openKfid,
        WECOM_API_BASE: 'http://127.0.0.1:9',
        RELAY_AUTH_SECRET: corp.relaySecret,
        HOST: '127.0.0.1',
        PORT: '0',
        WS_PORT: '0',
        DATABASE_PATH: join(dir, 'relay.db'),
        SYNC_POLL_INTERVAL_MS: '600000',
        DRAIN_SPREAD_MS: '0',
      },
      { envFile: null },
    );
    const node = new RelayNode({ config, logger: silent, backend: createSingleNodeBackend({ databasePath: config.storage.databasePath }) });
    try {
      expect(await value(node.metrics, 'relay_draining')).toBe(0);
      await node.start();
      expect(await value(node.metrics, 'relay_ready')).toBe(1);
      expect(await value(node.metrics, 'relay_state_backend_up')).toBe(1);
      expect(await value(node.metrics, 'relay_build_info', { node_version: process.version })).toBe(1);
      const drained = node.drain();
      expect(await value(node.metrics, 'relay_draining')).toBe(1);
      expect(await value(node.metrics, 'relay_ready')).toBe(0);
      await drained;
    } finally {
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
