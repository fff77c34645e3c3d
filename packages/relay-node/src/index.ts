/** Public surface of the relay node package: embedding a node, its configuration, and its state backends. */
export { RelayNode, type RelayNodeDeps, type RelayNodeStatus } from './relay-node.js';
export { loadConfig } from './config/load-config.js';
export type { RelayConfig, RedisTarget } from './config/relay-config.js';
export { createLogger } from './observability/logger.js';
export { createMetrics, type RelayMetrics } from './observability/metrics.js';
export { createStateBackend } from './state/create-state-backend.js';
export { createSingleNodeBackend } from './state/single-node-backend.js';
export { createRedisBackend } from './state/redis-backend.js';
export type { StateBackend } from './state/state-backend.js';
export * from './state/index.js';
export { ERROR_CATALOG, type ErrorCode } from './errors/error-catalog.js';
export { RelayError, isRelayError } from './errors/relay-error.js';
export * from './state/memory/index.js';
export * from './state/sqlite/index.js';
export * from './state/redis/index.js';
