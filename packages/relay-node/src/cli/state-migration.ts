import { RelayError } from '../errors/relay-error.js';
import { exportSqliteState } from '../state/sqlite/sqlite-state-export.js';
import { RedisBindingStore, RedisPendingBindingStore, RedisShardedBindingStore, RedisSyncCoordinator } from '../state/redis/index.js';
import { openRedisLocation } from './redis-location.js';

/** Long enough to write one cursor; a node that wants the lease meanwhile simply tries again later. */
const MIGRATION_LEASE_MS = 30_000;

/** What `pnpm relay migrate` needs. */
export interface StateMigrationOptions {
  /** The single-node state file: the deployed relay's or this relay's. Read only. */
  sqlitePath: string;
  /** `redis://` (one Redis, a Sentinel group's master) or `redis-cluster://host:port,...` (a Redis Cluster's seeds). */
  redisUrl: string;
  /** REDIS_KEY_PREFIX of the cluster's nodes. */
  prefix: string;
  /** The kf account whose sync cursor is carried. */
  openKfid: string;
  now?: () => number;
}

/** What was carried into Redis. */
export interface StateMigrationReport {
  source: 'deployed' | 'current';
  bindings: number;
  pendingTokens: number;
  expiredTokensDropped: number;
  /** 'carried': written; 'same': Redis already held it; 'none': the file had no cursor. */
  cursor: 'carried' | 'same' | 'none';
}

/**
 * Moves a single-node state file into a cluster's Redis: every binding, every live pending token (with the time it
 * has left) and the sync cursor of one kf account. The cursor is written through the sync lease and its fence, as a
 * puller would, so it is refused while a node is pulling, and a different cursor already in Redis is never
 * overwritten (that could replay or skip messages): run it before the cluster's nodes start.
 */
export async function migrateSqliteToRedis(o: StateMigrationOptions): Promise<StateMigrationReport> {
  const now = o.now ?? Date.now;
  const state = exportSqliteState(o.sqlitePath, o.openKfid, now());
  const opened = await openRedisLocation(o.redisUrl);
  const redis = opened.redis;
  try {
    let cursor: StateMigrationReport['cursor'] = 'none';
    if (state.cursor !== null) {
      // Cursor first: if Redis refuses it, nothing else has been written and the command can simply be rerun.
      const lease = await new RedisSyncCoordinator({ redis, prefix: o.prefix }).tryAcquire(o.openKfid, MIGRATION_LEASE_MS);
      if (!lease) {
        throw new RelayError('CONFIG_INVALID', 'a relay node is pulling this kf account right now: stop the nodes, then migrate');
      }
      try {
        const existing = await lease.cursor();
        if (existing !== null && existing !== state.cursor) {
          throw new RelayError(
            'CONFIG_INVALID',
            'Redis already holds a different sync cursor for this kf account; refusing to overwrite it (messages would be ' +
              'replayed or skipped). Use an empty Redis (or another REDIS_KEY_PREFIX)',
          );
        }
        if (existing === state.cursor) cursor = 'same';
        else if (await lease.commitCursor(state.cursor)) cursor = 'carried';
        else throw new RelayError('CONFIG_INVALID', 'the sync lease was lost while writing the cursor; run the command again');
      } finally {
        await lease.release();
      }
    }
    // On a cluster, bindings are spread per user exactly as the cluster's nodes keep them.
    const bindings = opened.cluster ? new RedisShardedBindingStore({ redis, prefix: o.prefix }) : new RedisBindingStore({ redis, prefix: o.prefix });
    for (const b of state.bindings) await bindings.bind(b.externalUserId, b.gatewayId);
    const pending = new RedisPendingBindingStore({ redis, prefix: o.prefix });
    for (const p of state.pending) {
      // A token the old relay handed out: bindable until it expires, never handed out again by create_binding.
      await pending.carry(p.token, p.gatewayId, p.expiresAt, now());
    }
    return {
      source: state.kind,
      bindings: state.bindings.length,
      pendingTokens: state.pending.length,
      expiredTokensDropped: state.expiredPending,
      cursor,
    };
  } finally {
    await opened.close();
  }
}
