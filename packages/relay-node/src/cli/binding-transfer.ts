import { Cluster, Redis } from 'ioredis';
import type { BindingStore } from '../state/binding-store.js';
import { openSqliteDatabase, SqliteBindingStore } from '../state/sqlite/index.js';
import { RedisBindingStore, RedisShardedBindingStore } from '../state/redis/index.js';

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
  if (/^rediss?:\/\//.test(location)) {
    const redis = new Redis(location, { maxRetriesPerRequest: 2, lazyConnect: true });
    await redis.connect();
    const store = new RedisBindingStore({ redis, prefix });
    return {
      store,
      close: async () => {
        await store.close();
        await redis.quit();
      },
    };
  }
  if (/^rediss?-cluster:\/\//.test(location)) {
    // A Redis Cluster by its seed nodes: bindings spread as the cluster's nodes keep them.
    const tls = location.startsWith('rediss-');
    const seeds = location.replace(/^rediss?-cluster:\/\//, '').split(',').map((pair) => {
      const at = pair.lastIndexOf(':');
      return { host: pair.slice(0, at), port: Number(pair.slice(at + 1)) };
    });
    const password = process.env.REDIS_PASSWORD;
    const cluster = new Cluster(seeds, {
      lazyConnect: true,
      enableAutoPipelining: true,
      redisOptions: { maxRetriesPerRequest: 2, ...(password ? { password } : {}), ...(tls ? { tls: {} } : {}) },
    });
    await cluster.connect();
    const store = new RedisShardedBindingStore({ redis: cluster, prefix });
    return {
      store,
      close: async () => {
        await store.close();
        await cluster.quit();
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
