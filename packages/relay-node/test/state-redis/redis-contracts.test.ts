import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { startRedis, uniquePrefix, type RedisHandle } from '@wecom-relay/testkit';
import {
  RedisAccessTokenStore,
  RedisBindingStore,
  RedisDedupStore,
  RedisDeliveryQueue,
  RedisNodeBus,
  RedisPendingBindingStore,
  RedisPresenceMap,
  RedisSyncCoordinator,
  RedisOutboundLedger,
  RedisReplyRecordStore,
  RedisShardedBindingStore,
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

// One server for the whole file; every store gets its own prefix, so tests cannot see each other's keys.
let server: RedisHandle;
let redis: Redis;
const logger = pino({ level: 'silent' });

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});

afterAll(async () => {
  await redis?.quit();
  await server?.stop();
});

const base = (label: string) => ({ redis, prefix: uniquePrefix(label) });

bindingStoreContract('redis', async () => new RedisBindingStore(base('bindings')));
pendingBindingStoreContract('redis', async () => new RedisPendingBindingStore(base('pending')));
dedupStoreContract('redis', async () => new RedisDedupStore(base('dedup')));
syncCoordinatorContract('redis', async () => new RedisSyncCoordinator(base('sync')));
presenceMapContract('redis', async () => new RedisPresenceMap(base('presence')));
nodeBusContract('redis', async () => {
  const prefix = uniquePrefix('bus');
  return {
    a: new RedisNodeBus({ redis, prefix, logger }),
    b: new RedisNodeBus({ redis, prefix, logger }),
  };
});
deliveryQueueContract('redis', async () => new RedisDeliveryQueue({ ...base('queue'), logger }));
accessTokenStoreContract('redis', async () => new RedisAccessTokenStore(base('access-token')));
presenceDirectoryContract('redis', async () => new RedisPresenceMap(base('presence-dir')));
bindingUnbindContract('redis', async () => new RedisBindingStore(base('bindings-unbind')));
// The spread binding layout a cluster uses holds to the same contract on one server.
bindingStoreContract('redis, cluster binding layout', async () => new RedisShardedBindingStore(base('sharded-bindings')));
bindingUnbindContract('redis, cluster binding layout', async () => new RedisShardedBindingStore(base('sharded-unbind')));
outboundLedgerContract('redis', async () => new RedisOutboundLedger({ ...base('outbound'), firstOpenKfid: LEDGER_FIRST_KF }));
replyRecordStoreContract('redis', async () => {
  const prefix = uniquePrefix('replies');
  // A second client stands for a second node.
  const other = new Redis(server.url);
  return {
    a: new RedisReplyRecordStore({ redis, prefix }),
    b: Object.assign(new RedisReplyRecordStore({ redis: other, prefix }), { close: async () => void (await other.quit()) }),
  };
});
