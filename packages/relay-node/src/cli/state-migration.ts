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
  /** The kf accounts served (WECOM_OPEN_KFID, first the default): the cursor of each the file holds is carried. */
  openKfids: readonly string[];
  now?: () => number;
}

/** What was carried into Redis. */
export interface StateMigrationReport {
  source: 'deployed' | 'current';
  bindings: number;
  pendingTokens: number;
  expiredTokensDropped: number;
  /** Per account, in the order given: 'carried': written; 'same': Redis already held it; 'none': the file had no cursor. */
  cursors: Array<{ openKfid: string; cursor: 'carried' | 'same' | 'none' }>;
}

/**
 * Moves a single-node state file into a cluster's Redis: every binding (with its kf account and the binding event
 * that made it), every live pending token (with the time it has left) and the sync cursor of every configured kf
 * account the file holds one for (a deployed relay's file holds the first account's). Each cursor is written through the sync lease and its fence, as a
 * puller would, so it is refused while a node is pulling, and a different cursor already in Redis is never
 * overwritten (that could replay or skip messages): run it before the cluster's nodes start.
 */
export async function migrateSqliteToRedis(o: StateMigrationOptions): Promise<StateMigrationReport> {
  const now = o.now ?? Date.now;
  const state = exportSqliteState(o.sqlitePath, o.openKfids, now());
  const opened = await openRedisLocation(o.redisUrl);
  const redis = opened.redis;
  try {
    // Cursors first: if Redis refuses one, no binding has been written and the command can simply be rerun (a cursor
    // already carried then reads 'same').
    const carried = new Map<string, 'carried' | 'same'>();
    const coordinator = new RedisSyncCoordinator({ redis, prefix: o.prefix });
    for (const { openKfid, cursor } of state.cursors) carried.set(openKfid, await carryCursor(coordinator, openKfid, cursor));
    // On a cluster, bindings are spread per user exactly as the cluster's nodes keep them.
    const bindings = opened.cluster ? new RedisShardedBindingStore({ redis, prefix: o.prefix }) : new RedisBindingStore({ redis, prefix: o.prefix });
    for (const b of state.bindings) {
      // With its order the binding keeps its account, and an older binding event pulled again cannot undo it.
      if (b.order) await bindings.bindInOrder(b.externalUserId, b.gatewayId, { ...b.order, ...(b.openKfid ? { openKfid: b.openKfid } : {}) });
      else await bindings.bind(b.externalUserId, b.gatewayId);
    }
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
      cursors: o.openKfids.map((openKfid) => ({ openKfid, cursor: carried.get(openKfid) ?? 'none' })),
    };
  } finally {
    await opened.close();
  }
}

/** Writes one account's cursor through its sync lease and fence, as a puller would; never over a different one. */
async function carryCursor(coordinator: RedisSyncCoordinator, openKfid: string, cursor: string): Promise<'carried' | 'same'> {
  const lease = await coordinator.tryAcquire(openKfid, MIGRATION_LEASE_MS);
  if (!lease) {
    throw new RelayError('CONFIG_INVALID', `a relay node is pulling kf account ${openKfid} right now: stop the nodes, then migrate`);
  }
  try {
    const existing = await lease.cursor();
    if (existing === cursor) return 'same';
    if (existing !== null) {
      throw new RelayError(
        'CONFIG_INVALID',
        `Redis already holds a different sync cursor for kf account ${openKfid}; refusing to overwrite it (messages would be ` +
          'replayed or skipped). Use an empty Redis (or another REDIS_KEY_PREFIX)',
      );
    }
    if (await lease.commitCursor(cursor)) return 'carried';
    throw new RelayError('CONFIG_INVALID', 'the sync lease was lost while writing the cursor; run the command again');
  } finally {
    await lease.release();
  }
}
