import { ownRedisServer } from './helpers.js';
import { presenceFreshnessSuite } from './presence-freshness-kit.js';

// The same suite runs on a Redis Cluster in redis-cluster-contracts.test.ts.
const own = ownRedisServer();
presenceFreshnessSuite('redis', () => own.redis);
