import { Cluster } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { startRedisCluster, uniquePrefix, type RedisClusterHandle } from '@wecom-relay/testkit';
import {
  RedisAccessTokenStore,
  RedisDedupStore,
  RedisDeliveryQueue,
  RedisPendingBindingStore,
  RedisPresenceMap,
  RedisSyncCoordinator,
  RedisOutboundLedger,
  RedisReplyRecordStore,
  RedisShardedBindingStore,
  RedisShardedNodeBus,
} from '../../src/state/redis/index.js';
import {
  accessTokenStoreContract,
  bindingStoreContract,
  dedupStoreContract,
  deliveryQueueContract,
  LEDGER_FIRST_KF,
  outboundLedgerContract,
  replyRecordStoreContract,
  nodeBusContract,
  pendingBindingStoreContract,
  presenceMapContract,
  syncCoordinatorContract,
  presenceDirectoryContract,
  bindingUnbindContract,
} from '../state/contracts.js';
import { presenceFreshnessSuite } from './presence-freshness-kit.js';

// The same contract suites as on one Redis, on a real Redis Cluster (3 masters + 3 replicas), one per file.
// A script whose keys span two slots fails here with CROSSSLOT; a plain PUBLISH would still pass the bus suite,
// which is why redis-cluster-specific.test.ts checks that a wake-up stays within its shard.
let cluster: RedisClusterHandle;
let redis: Cluster;
const logger = pino({ level: 'silent' });

function client(): Cluster {
  const c = new Cluster(
    cluster.seeds.map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) })),
    { enableAutoPipelining: true },
  );
  c.on('error', () => undefined);
  return c;
}

beforeAll(async () => {
  cluster = await startRedisCluster();
  redis = client();
}, 60_000);

afterAll(async () => {
  await redis?.quit();
  await cluster?.stop();
});

const base = (label: string) => ({ redis, prefix: uniquePrefix(label) });

bindingStoreContract('redis cluster', async () => new RedisShardedBindingStore(base('bindings')));
pendingBindingStoreContract('redis cluster', async () => new RedisPendingBindingStore(base('pending')));
dedupStoreContract('redis cluster', async () => new RedisDedupStore(base('dedup')));
syncCoordinatorContract('redis cluster', async () => new RedisSyncCoordinator(base('sync')));
presenceMapContract('redis cluster', async () => new RedisPresenceMap(base('presence')));
nodeBusContract('redis cluster', async () => {
  const prefix = uniquePrefix('bus');
  return {
    a: new RedisShardedNodeBus({ redis, prefix, logger }),
    b: new RedisShardedNodeBus({ redis, prefix, logger }),
  };
});
deliveryQueueContract('redis cluster', async () => new RedisDeliveryQueue({ ...base('queue'), logger }));
accessTokenStoreContract('redis cluster', async () => new RedisAccessTokenStore(base('access-token')));
presenceDirectoryContract('redis cluster', async () => new RedisPresenceMap(base('presence-dir')));
presenceFreshnessSuite('redis cluster', () => redis);
bindingUnbindContract('redis cluster', async () => new RedisShardedBindingStore(base('bindings-unbind')));
outboundLedgerContract('redis cluster', async () => new RedisOutboundLedger({ ...base('outbound'), firstOpenKfid: LEDGER_FIRST_KF }));
replyRecordStoreContract('redis cluster', async () => {
  const prefix = uniquePrefix('replies');
  const other = client();
  return {
    a: new RedisReplyRecordStore({ redis, prefix }),
    b: Object.assign(new RedisReplyRecordStore({ redis: other, prefix }), { close: async () => void (await other.quit()) }),
  };
});
