import { Cluster, Redis } from 'ioredis';
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
  RedisRouteAppender,
  RedisSyncCoordinator,
  RedisShardedBindingStore,
  RedisShardedNodeBus,
  type RedisClient,
} from './redis/index.js';
import { RedisHealthProbe } from './redis/redis-health-probe.js';
import { checkRedisAtStart } from './redis/redis-preflight.js';
import { replicaBarrier } from './redis/redis-replica-barrier.js';
import { createClusterClient, redisConnectionName } from './redis/redis-cluster-client.js';
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
  /**
   * Stall detection (REDIS_COMMAND_TIMEOUT_MS, REDIS_PING_INTERVAL_MS, REDIS_STALE_AFTER_MS,
   * REDIS_RECONNECT_AFTER_MS); defaults 2 s, 1 s, 3 s, 15 s.
   */
  health?: { commandTimeoutMs: number; pingIntervalMs: number; staleAfterMs: number; reconnectAfterMs?: number };
  /** Names the node's connections (CLIENT SETNAME `wecom-relay:<nodeId>:<role>`) so operators can tell them apart. */
  nodeId?: string;
  /** The first configured kf account: its send windows keep the keys a single-account relay wrote. */
  openKfid?: string;
}

/**
 * Cluster mode: shared state in Redis. The node keeps running while Redis is away (commands fail fast and
 * callers retry); readiness reports false until the connection and the bus subscription are back, and while
 * the server does not answer a PING (a stalled server keeps its sockets open).
 */
export async function createRedisBackend(o: RedisBackendOptions): Promise<StateBackend> {
  const health = o.health ?? { commandTimeoutMs: 2_000, pingIntervalMs: 1_000, staleAfterMs: 3_000, reconnectAfterMs: 15_000 };
  const common = {
    // A server that stops answering (stopped, swapping, stuck on a slow script) keeps the socket open: without a
    // timeout every command would wait forever and the webhook could not answer WeCom in time.
    commandTimeout: health.commandTimeoutMs,
    // Fail commands quickly while Redis is away so pulls and deliveries retry on their own schedule
    // instead of piling up behind a queue that flushes all at once on reconnect.
    maxRetriesPerRequest: 2,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2_000),
    enableReadyCheck: true,
    // On a Redis Cluster the commands issued in one tick travel as one batch per shard: a page's appends and a wake-up's
    // reads are one command per gateway there, each in its gateway's slot. One server needs no such help: its stores
    // batch those into one script per tick themselves (TickBatch), and ioredis's auto-pipelining would only add its
    // Pipeline bookkeeping and hold every command until the batch in flight is answered (one batch at a time per
    // connection); relay-only `pnpm bench` runs measured 7–15 % less node CPU per message without it.
    enableAutoPipelining: o.redis.kind === 'cluster',
  };
  const named = o.nodeId ? { connectionName: redisConnectionName(o.nodeId, 'commands') } : {};
  const redis: RedisClient =
    o.redis.kind === 'cluster'
      ? createClusterClient(o.redis, { ...common, ...named })
      : o.redis.kind === 'url'
      ? new Redis(o.redis.url, { ...common, ...named })
      : new Redis({
          ...common,
          ...named,
          sentinels: o.redis.sentinels.map((s) => ({ ...s })),
          name: o.redis.name,
          ...(o.redis.password ? { password: o.redis.password } : {}),
        });
  if (o.metrics) instrumentRedisCommands(redis, o.metrics);
  redis.on('error', (err) => o.logger.warn({ err }, 'redis connection error'));
  redis.on('ready', () => o.logger.info({}, 'redis ready'));
  let preflight;
  try {
    preflight =
      o.redis.kind === 'cluster'
        ? await checkRedisAtStart(redis, o.logger, o.redis.nodes, {
            ...(o.redis.password ? { password: o.redis.password } : {}),
            ...(o.redis.tls ? { tls: {} } : {}),
          })
        : await checkRedisAtStart(redis, o.logger);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const probe = new RedisHealthProbe({
    redis,
    intervalMs: health.pingIntervalMs,
    staleAfterMs: health.staleAfterMs,
    reconnectAfterMs: health.reconnectAfterMs ?? 15_000,
    connection: 'commands',
    logger: o.logger,
  });
  probe.start();
  const prefix = o.prefix ?? 'wr:';
  const base = { redis, prefix };
  let db: { close(): unknown } | null = null;
  let bindings: BindingStore;
  let pendingBindings: PendingBindingStore;
  if (o.bindings === 'sqlite') {
    // No open_kfid: in cluster mode a deployed file's cursor belongs in Redis (pnpm relay migrate), so a deployed
    // file holding one is refused here rather than upgraded with its cursor stranded in SQLite. Loaded only here: a
    // node with its bindings in Redis never loads the native SQLite module.
    const sqlite = await import('./sqlite/index.js');
    const opened = sqlite.openSqliteDatabase(o.databasePath, { logger: o.logger });
    db = opened;
    bindings = new sqlite.SqliteBindingStore(opened);
    pendingBindings = new sqlite.SqlitePendingBindingStore(opened);
  } else {
    // On a cluster, bindings spread over every shard instead of sitting under one hash tag.
    bindings = redis instanceof Cluster ? new RedisShardedBindingStore(base) : new RedisBindingStore(base);
    pendingBindings = new RedisPendingBindingStore(base);
  }
  const busName = o.nodeId ? redisConnectionName(o.nodeId, 'bus') : undefined;
  const busHealth = {
    pingIntervalMs: health.pingIntervalMs,
    staleAfterMs: health.staleAfterMs,
    reconnectAfterMs: health.reconnectAfterMs ?? 15_000,
  };
  const busOptions = { prefix, logger: o.logger, health: busHealth, ...(busName ? { connectionName: busName } : {}) };
  const bus = redis instanceof Cluster ? new RedisShardedNodeBus({ redis, ...busOptions }) : new RedisNodeBus({ redis, ...busOptions });
  const dedup = new RedisDedupStore(base);
  const presence = new RedisPresenceMap(base);
  const queue = new RedisDeliveryQueue({
    ...base,
    logger: o.logger,
    ...(o.queueMaxAgeMs ? { idleTtlMs: o.queueMaxAgeMs + 24 * 3600 * 1000 } : {}),
    // On a cluster an append reads its gateway's owner in the same script (one slot), for the wake-up that follows.
    ownerKeyOf: (gatewayId) => presence.ownerKey(gatewayId),
  });
  const stores = {
    bindings,
    pendingBindings,
    dedup,
    // The cursor moves past a page only once the page's appends are on a replica (a failover loses nothing): per
    // master on a cluster, on the one master of a single Redis or Sentinel group (a master without replicas passes).
    sync: new RedisSyncCoordinator({ ...base, barrier: replicaBarrier(redis, { logger: o.logger }) }),
    presence,
    bus,
    queue,
    accessTokens: new RedisAccessTokenStore(base),
    outbound: new RedisOutboundLedger({ ...base, ...(o.openKfid !== undefined ? { firstOpenKfid: o.openKfid } : {}) }),
    replies: new RedisReplyRecordStore(base),
  };
  let closing: Promise<void> | null = null;
  return {
    kind: 'redis',
    ...stores,
    ...(redis instanceof Cluster
      ? {}
      : {
          routeAppender: new RedisRouteAppender({
            redis,
            dedup,
            queue,
            presence,
            ledger: stores.outbound,
            // Bindings on the same server are checked in the route step itself (bindings in SQLite cannot be).
            ...(bindings instanceof RedisBindingStore ? { bindings } : {}),
          }),
        }),
    isLive: () => redis.status === 'ready' && bus.isLive() && probe.isAnswering() && preflight.passed(),
    close() {
      closing ??= (async () => {
        probe.stop();
        await Promise.allSettled(Object.values(stores).map((s) => s.close()));
        db?.close();
        redis.disconnect();
      })();
      return closing;
    },
  };
}
