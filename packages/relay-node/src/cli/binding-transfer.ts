import type { BindingStore } from '../state/binding-store.js';
import { openSqliteDatabase, SqliteBindingStore } from '../state/sqlite/index.js';
import { RedisBindingStore, RedisShardedBindingStore } from '../state/redis/index.js';
import { isRedisLocation, openRedisLocation } from './redis-location.js';

/**
 * A binding store opened from a location such as `sqlite:./data/relay.db`, `redis://host:6379` or
 * `redis-cluster://host:7000,host:7001` (a Redis Cluster's seed nodes; `rediss-cluster://` for TLS, REDIS_PASSWORD).
 */
export async function openBindingStore(location: string, prefix = 'wr:'): Promise<{ store: BindingStore; close(): Promise<void> }> {
  if (location.startsWith('sqlite:')) {
    const db = openSqliteDatabase(location.slice('sqlite:'.length));
    const store = new SqliteBindingStore(db);
    return {
      store,
      close: async () => {
        await store.close();
        db.close();
      },
    };
  }
  if (isRedisLocation(location)) {
    const opened = await openRedisLocation(location);
    // On a cluster, bindings spread per user as the cluster's nodes keep them.
    const store = opened.cluster ? new RedisShardedBindingStore({ redis: opened.redis, prefix }) : new RedisBindingStore({ redis: opened.redis, prefix });
    return {
      store,
      close: async () => {
        await store.close();
        await opened.close();
      },
    };
  }
  throw new Error(`unknown store location "${location}": use sqlite:<path>, redis://host:port or redis-cluster://host:port,host:port`);
}

/** Copies every binding from one store to another; resolves to how many were copied. */
export async function copyBindings(from: BindingStore, to: BindingStore): Promise<number> {
  let n = 0;
  for await (const [externalUserId, gatewayId] of from.entries()) {
    await to.bind(externalUserId, gatewayId);
    n++;
  }
  return n;
}
