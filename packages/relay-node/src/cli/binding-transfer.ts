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

/**
 * An order older than any binding event (WeCom's send_time is never 0): it records a copied binding's account while
 * letting every real binding event still apply after it.
 */
const COPIED_ORDER = { at: 0, eventId: 'copied' } as const;

/**
 * Copies every binding from one store to another, each with the kf account it came through (so replies keep going
 * out from it); resolves to how many were copied.
 */
export async function copyBindings(from: BindingStore, to: BindingStore): Promise<number> {
  let n = 0;
  for await (const [externalUserId, gatewayId] of from.entries()) {
    await to.bind(externalUserId, gatewayId);
    const openKfid = await from.accountOf(externalUserId);
    // A target that already saw a binding event of this user keeps what that event said, account included.
    if (openKfid !== null) await to.bindInOrder(externalUserId, gatewayId, { ...COPIED_ORDER, openKfid });
    n++;
  }
  return n;
}
