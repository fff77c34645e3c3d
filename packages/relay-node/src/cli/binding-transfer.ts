import { Redis } from 'ioredis';
import type { BindingStore } from '../state/binding-store.js';
import { openSqliteDatabase, SqliteBindingStore } from '../state/sqlite/index.js';
import { RedisBindingStore } from '../state/redis/index.js';

/** A binding store opened from a location such as `sqlite:./data/relay.db` or `redis://host:6379`. */
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
  throw new Error(`unknown store location "${location}": use sqlite:<path> or redis://host:port`);
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
