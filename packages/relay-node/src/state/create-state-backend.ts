import type { Logger } from 'pino';
import type { RelayConfig } from '../config/relay-config.js';
import type { StateBackend } from './state-backend.js';
import type { RedisCommandMetrics } from '../observability/redis-command-metrics.js';

/**
 * Cluster mode when REDIS_URL is set, otherwise one node on SQLite. Each backend is loaded only when chosen, so a node
 * on Redis does not load the native SQLite module and a node alone does not load the Redis client.
 */
export async function createStateBackend(config: RelayConfig, logger: Logger, metrics?: RedisCommandMetrics): Promise<StateBackend> {
  if (config.storage.redis) {
    const { createRedisBackend } = await import('./redis-backend.js');
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
  const { createSingleNodeBackend } = await import('./single-node-backend.js');
  return createSingleNodeBackend({
    databasePath: config.storage.databasePath,
    openKfid: config.wecom.openKfid,
    logger: logger.child({ component: 'sqlite' }),
  });
}
