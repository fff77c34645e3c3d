import type { Logger } from 'pino';
import type { RelayConfig } from '../config/relay-config.js';
import type { StateBackend } from './state-backend.js';
import { createSingleNodeBackend } from './single-node-backend.js';
import { createRedisBackend } from './redis-backend.js';
import type { RedisCommandMetrics } from '../observability/redis-command-metrics.js';

/** Cluster mode when REDIS_URL is set, otherwise one node on SQLite. */
export async function createStateBackend(config: RelayConfig, logger: Logger, metrics?: RedisCommandMetrics): Promise<StateBackend> {
  if (config.storage.redis) {
    return createRedisBackend({
      redis: config.storage.redis,
      prefix: config.storage.redisKeyPrefix,
      queueMaxAgeMs: config.queue.maxAgeMs,
      health: config.redisHealth,
      bindings: config.storage.bindings,
      databasePath: config.storage.databasePath,
      logger: logger.child({ component: 'redis' }),
      nodeId: config.nodeId,
      openKfid: config.wecom.openKfid,
      ...(metrics ? { metrics } : {}),
    });
  }
  return createSingleNodeBackend({
    databasePath: config.storage.databasePath,
    openKfid: config.wecom.openKfid,
    logger: logger.child({ component: 'sqlite' }),
  });
}
