/**
 * Redis implementations of the relay's shared-state interfaces (cluster mode).
 *
 * REDIS_KEY_LAYOUT — every key, with `P` the configured prefix (default `wr:`). A `{...}` part is the
 * Redis Cluster hash tag: each Lua script touches keys of one tag only.
 *
 *   P{bindings}:users                 hash  external_userid → gateway_id
 *   P{bindings}:gw:<gatewayId>        set   users bound to that gateway (kept in step by the bind/unbindAll scripts)
 *   P{bindings}:order                 hash  external_userid → '<send_time>:<msgid>' of the last binding event applied
 *   P{bindings}:account               hash  external_userid → open_kfid the binding event came in on (absent: the first)
 *   P{binding-tokens}:token:<token>   string gateway_id, PX = token lifetime; taken (GET+DEL) by its first use
 *   P{binding-tokens}:gw:<gatewayId>  zset  the gateway's unused tokens → issue time (server ms), for reuse and the cap
 *   P{binding-tokens}:rate:<gatewayId> counter of tokens given out in the current window, PX = window
 *   P{binding-tokens}:used:<msgid>    string gateway_id a token bound for that WeCom event, PX = re-pull horizon
 *   Pbinding-guesses:<userid>         counter of typed tokens that named none, PX = guess window
 *   Pdedup:<msgid>                    string '1', SET NX PX
 *   Pdedup:r:<msgid>                  string routing decision (`>gateway`, `-` unbound, `#` binding), PX = re-pull horizon;
 *                                     written by relays before packing (and for messages without send_time), still read
 *   Pdp:<minute>:<shard>              hash  packed decisions of one minute of send_time: field = first 12 bytes of
 *                                     SHA-1(`r:<msgid>`) → decision (as Pdedup:r:<msgid>, or `=gateway` on one server:
 *                                     queued in the same script, with no dedup marker), shard from the same digest (mod
 *                                     64); PX = re-pull horizon + a minute, from its latest field;
 *                                     at most 128 fields (any number if written by a relay before splitting)
 *   P{Pdp:<minute>:<shard>}:<path>    hash  as Pdp:<minute>:<shard>, one level further down per digit of path (0-7, from
 *                                     the field's first bytes), once each hash above it is full; the tag is the root's full
 *                                     name, so it shares the root's slot; PX at least that of every field below it
 *   P{kf:<open_kfid>}:lease           string fence of the current puller, PX = lease
 *   P{kf:<open_kfid>}:fence           counter (INCR) of issued fences
 *   P{kf:<open_kfid>}:cursor          hash  {value, fence that wrote it}
 *   P{kf:<open_kfid>}:pending         string '1' while a pull is asked for and not taken
 *   P{kf:<open_kfid>}:token           hash  {value, receivedAt} of the freshest callback Token
 *   P{gw:<gatewayId>}:owner           hash  {node, gen, conn}; gen survives release so generations only grow;
 *                                     conn = JSON {gen, since, dialect, delivery} of that generation's socket;
 *                                     PX = a day from the last claim, refreshed by the owner's heartbeat while held
 *   P{gw:<gatewayId>}:queue           stream of queued events (field `event` = JSON); ids are delivery ids
 *   P{gw:<gatewayId>}:acked           string last acked stream id (only moves forward)
 *   P{gw:<gatewayId>}:dedup:<key>     string stream id appended under that dedup key (e.g. msgid), PX = dedup ttl;
 *                                     separate from the stream so it outlives acks and trims; written by relays before
 *                                     packing (and for keys without a time), still read
 *   P{gw:<gatewayId>}:dp:<hour>       hash  packed dedup markers of one hour of send_time: field = first 12 bytes of
 *                                     SHA-1(dedup key) → '1' (none for messages whose decision is `=gateway`);
 *                                     PX = dedup ttl + an hour, from its latest field; at most 128 fields (any number
 *                                     if written by a relay before splitting)
 *   P{gw:<gatewayId>}:dp:<hour>:<path> hash as P{gw:<gatewayId>}:dp:<hour>, one level further down per digit of path,
 *                                     once each hash above it is full; PX at least that of every field below it
 *   P{gw:<gatewayId>}:reply:<digest>  string a reply's claim (`p:<owner>`, PX = claim ttl) or its ack as JSON (PX = a day);
 *                                     digest = sha256(request id, fingerprint of customer and content)
 *   P{node:<nodeId>}:alive            string '1', PX = heartbeat ttl; the node's claims count only while it exists
 *   P{node:<nodeId>}:owned            set   gateways the node holds (best effort, for metrics)
 *   P{nodes}:known                    zset  node ids by last heartbeat (ms); live ones are those with an alive key
 *   P{access-token}:value             hash  {token, expiresAt}
 *   P{access-token}:refresh-lock      string unique holder id, SET NX PX
 *   Pbus:<nodeId>                     pub/sub channel (not a key) carrying JSON BusMessages to one node
 *
 * On a Redis Cluster (REDIS_CLUSTER_KEY_LAYOUT) bindings are spread instead of sitting under `{bindings}`, and the bus
 * channel is a sharded one (SSUBSCRIBE/SPUBLISH):
 *
 *   P{user:<externalUserId>}:binding  hash  {gw, seq, order, kf}: the user's gateway, a counter ordering the user's
 *                                           binds, the last binding event, and its kf account
 *   P{gw:<gatewayId>}:users           hash  user → seq of the bind that indexed them; a superset, checked on read
 */
export { RedisBindingStore, type RedisBindingStoreOptions } from './redis-binding-store.js';
export { RedisPendingBindingStore, type RedisPendingBindingStoreOptions } from './redis-pending-binding-store.js';
export { RedisDedupStore, type RedisDedupStoreOptions } from './redis-dedup-store.js';
export { RedisSyncCoordinator, type RedisSyncCoordinatorOptions } from './redis-sync-coordinator.js';
export { RedisPresenceMap, type RedisPresenceMapOptions } from './redis-presence-map.js';
export { RedisNodeBus, type RedisNodeBusOptions } from './redis-node-bus.js';
export type { StateLogger } from './state-logger.js';
export { RedisDeliveryQueue, type RedisDeliveryQueueOptions } from './redis-delivery-queue.js';
export { RedisRouteAppender, type RedisRouteAppenderOptions } from './redis-route-appender.js';
export { RedisAccessTokenStore, type RedisAccessTokenStoreOptions } from './redis-access-token-store.js';
export { DEFAULT_KEY_PREFIX } from './keyspace.js';
export { REDIS_KEY_LAYOUT, REDIS_CLUSTER_KEY_LAYOUT } from './key-layout.js';
export { RedisOutboundLedger, type RedisOutboundLedgerOptions } from './redis-outbound-ledger.js';
export { RedisReplyRecordStore, type RedisReplyRecordStoreOptions } from './redis-reply-record-store.js';
export { RedisShardedBindingStore, type RedisShardedBindingStoreOptions } from './redis-sharded-binding-store.js';
export { RedisShardedNodeBus, type RedisShardedNodeBusOptions } from './redis-sharded-node-bus.js';
export { isClusterClient, type RedisClient } from './redis-client.js';
export { REPLICA_BARRIER_TIMEOUT_MS, replicaBarrier, type CommitBarrier, type ReplicaBarrierOptions } from './redis-replica-barrier.js';
export { createClusterClient, followRedirectsInBatches } from './redis-cluster-client.js';
