/**
 * Every Redis key pattern the relay uses, for operators and tools (`P` = prefix). Kept in step with the
 * classes by a test that lists a live relay's keys; the comment block in index.ts explains each one.
 */
export const REDIS_KEY_LAYOUT = {
  bindingUsers: 'P{bindings}:users',
  bindingGatewayUsers: 'P{bindings}:gw:<gatewayId>',
  bindingOrders: 'P{bindings}:order',
  bindingAccounts: 'P{bindings}:account',
  bindingToken: 'P{binding-tokens}:token:<token>',
  bindingTokenIndex: 'P{binding-tokens}:gw:<gatewayId>',
  bindingTokenRate: 'P{binding-tokens}:rate:<gatewayId>',
  bindingTokenUsed: 'P{binding-tokens}:used:<msgid>',
  bindingGuesses: 'Pbinding-guesses:<externalUserId>',
  dedup: 'Pdedup:<msgid>',
  routeDecision: 'Pdedup:r:<msgid>',
  decisionsPacked: 'Pdp:<minute>:<shard>',
  decisionsPackedBelow: 'P{Pdp:<minute>:<shard>}:<path>',
  syncLease: 'P{kf:<openKfid>}:lease',
  syncFence: 'P{kf:<openKfid>}:fence',
  syncCursor: 'P{kf:<openKfid>}:cursor',
  syncPending: 'P{kf:<openKfid>}:pending',
  syncCallbackToken: 'P{kf:<openKfid>}:token',
  presenceOwner: 'P{gw:<gatewayId>}:owner',
  deliveryQueue: 'P{gw:<gatewayId>}:queue',
  deliveryAcked: 'P{gw:<gatewayId>}:acked',
  deliveryDedup: 'P{gw:<gatewayId>}:dedup:<dedupKey>',
  deliveryDedupPacked: 'P{gw:<gatewayId>}:dp:<hour>',
  deliveryDedupPackedBelow: 'P{gw:<gatewayId>}:dp:<hour>:<path>',
  nodeAlive: 'P{node:<nodeId>}:alive',
  nodeOwned: 'P{node:<nodeId>}:owned',
  nodesKnown: 'P{nodes}:known',
  accessToken: 'P{access-token}:value',
  accessTokenRefreshLock: 'P{access-token}:refresh-lock',
  busChannel: 'Pbus:<nodeId>',
  outboundWindow: 'P{user:<externalUserId>}:window',
  outboundAccountWindow: 'P{user:<externalUserId>}:window:<openKfid>',
  outboundSender: 'Psent:<msgid>',
  replyRecord: 'P{gw:<gatewayId>}:reply:<digest>',
} as const;

/**
 * Keys a Redis Cluster deployment writes instead of the `{bindings}` ones above: bindings spread over every shard.
 * `seq` orders a user's binds, so a late index write or removal of an older bind changes nothing.
 * The user's record also keeps `order`, the last binding event applied (as `{bindings}:order` does on one server),
 * and `kf`, the kf account that event came in on (as `{bindings}:account`).
 */
export const REDIS_CLUSTER_KEY_LAYOUT = {
  bindingUser: 'P{user:<externalUserId>}:binding',
  bindingGatewayIndex: 'P{gw:<gatewayId>}:users',
} as const;
