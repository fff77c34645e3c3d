export { startRedis, type StartRedisOptions } from './start-redis.js';
export { RedisTestkitError, type RedisHandle, type RedisTestkitErrorCode } from './redis-handle.js';
export { freePort } from './free-port.js';
export { waitForPing } from './ping.js';
export { uniquePrefix } from './unique-prefix.js';
export { findRedisServerBinary } from './redis-server-process.js';
export { startRedisCluster, type RedisClusterHandle, type RedisClusterNode, type StartRedisClusterOptions } from './redis-cluster.js';
export type { SpawnedRedis } from './redis-server-process.js';
