import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { StateBackend } from './state-backend.js';
import type { RedisTarget } from '../config/relay-config.js';
import type { BindingStore } from './binding-store.js';
import type { PendingBindingStore } from './pending-binding-store.js';
import {
  RedisAccessTokenStore,
  RedisBindingStore,
  RedisDedupStore,
  RedisDeliveryQueue,
  RedisNodeBus,
  RedisOutboundLedger,
  RedisPendingBindingStore,
  RedisPresenceMap,
  RedisReplyRecordStore,
  RedisSyncCoordinator,
} from './redis/index.js';
import { openSqliteDatabase, SqliteBindingStore, SqlitePendingBindingStore } from './sqlite/index.js';
import { instrumentRedisCommands, type RedisCommandMetrics } from '../observability/redis-command-metrics.js';

/** Options for {@link createRedisBackend}. */
export interface RedisBackendOptions {
  redis: RedisTarget;
  /** Where bindings and pending tokens live: Redis (default) or SQLite on a shared volume. */
  bindings: 'redis' | 'sqlite';
  databasePath: string;
  logger: Logger;
  /** Key prefix, so several relays (or tests) can share one Redis. */
  prefix?: string;
  /** How long events may wait in a gateway's queue (QUEUE_MAX_AGE_MS); idle queues expire a day after that. */
  queueMaxAgeMs?: number;
  /** Where the client's command latency and errors are counted (the node's metrics). */
  metrics?: RedisCommandMetrics;
}

/**
 * Cluster mode: shared state in Redis. The node keeps running while Redis is away (commands fail fast and
 * callers retry); readiness reports false until the connection and the bus subscription are back.
 */
export async function createRedisBackend(o: RedisBackendOptions): Promise<StateBackend> {
  const common = {
    // Fail commands quickly while Redis is away so pulls and deliveries retry on their own schedule
    // instead of piling up behind a queue that flushes all at once on reconnect.
    maxRetriesPerRequest: 2,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
    enableReadyCheck: true,
    // Commands issued in the same tick (a page's users handled side by side, many gateways drained at once)
    // travel in one round trip.
    enableAutoPipelining: true,
  };
  const redis =
    o.redis.kind === 'url'
      ? new Redis(o.redis.url, common)
      : new Redis({
          ...common,
          sentinels: o.redis.sentinels.map((s) => ({ ...s })),
          name: o.redis.name,
          ...(o.redis.password ? { password: o.redis.password } : {}),
        });
  if (o.metrics) instrumentRedisCommands(redis, o.metrics);
  redis.on('error', (err) => o.logger.warn({ err }, 'redis connection error'));
  redis.on('ready', () => o.logger.info({}, 'redis ready'));
  const prefix = o.prefix ?? 'wr:';
  const base = { redis, prefix };
  let db: ReturnType<typeof openSqliteDatabase> | null = null;
  let bindings: BindingStore;
  let pendingBindings: PendingBindingStore;
  if (o.bindings === 'sqlite') {
    // No open_kfid: in cluster mode a deployed file's cursor belongs in Redis (pnpm relay migrate), so a deployed
    // file holding one is refused here rather than upgraded with its cursor stranded in SQLite.
    db = openSqliteDatabase(o.databasePath, { logger: o.logger });
    bindings = new SqliteBindingStore(db);
    pendingBindings = new SqlitePendingBindingStore(db);
  } else {
    bindings = new RedisBindingStore(base);
    pendingBindings = new RedisPendingBindingStore(base);
  }
  const bus = new RedisNodeBus({ ...base, logger: o.logger });
  const stores = {
    bindings,
    pendingBindings,
    dedup: new RedisDedupStore(base),
    sync: new RedisSyncCoordinator(base),
    presence: new RedisPresenceMap(base),
    bus,
    queue: new RedisDeliveryQueue({
      ...base,
      logger: o.logger,
      ...(o.queueMaxAgeMs ? { idleTtlMs: o.queueMaxAgeMs + 24 * 3600 * 1000 } : {}),
    }),
    accessTokens: new RedisAccessTokenStore(base),
    outbound: new RedisOutboundLedger(base),
    replies: new RedisReplyRecordStore(base),
  };
  let closing: Promise<void> | null = null;
  return {
    kind: 'redis',
    ...stores,
    isLive: () => redis.status === 'ready' && bus.isLive(),
    close() {
      closing ??= (async () => {
        await Promise.allSettled(Object.values(stores).map((s) => s.close()));
        db?.close();
        redis.disconnect();
      })();
      return closing;
    },
  };
}
