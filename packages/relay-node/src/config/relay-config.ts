import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Env } from './config-schema.js';
import { parseAdminTokens, type AdminToken } from '../admin/admin-tokens.js';
import { deriveMediaLinkSecret } from '../media/media-link-signer.js';

/** How to reach Redis. */
export type RedisTarget =
  | { readonly kind: 'url'; readonly url: string }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: ReadonlyArray<{ readonly host: string; readonly port: number }>;
      readonly name: string;
      readonly password: string | undefined;
    }
  | {
      readonly kind: 'cluster';
      /** Seed nodes; the client learns the rest of the cluster from them. */
      readonly nodes: ReadonlyArray<{ readonly host: string; readonly port: number }>;
      readonly tls: boolean;
      readonly password: string | undefined;
    };

/** The validated, frozen configuration every part of a node reads. */
export interface RelayConfig {
  readonly nodeId: string;
  readonly host: string;
  readonly httpPort: number;
  readonly wsPort: number;
  readonly locale: 'zh' | 'en';
  readonly logLevel: Env['LOG_LEVEL'];
  readonly wecom: {
    readonly corpId: string;
    readonly secret: string;
    readonly token: string;
    readonly encodingAesKey: string;
    /** The first configured kf account: where create_binding links point by default and old bindings answer from. */
    readonly openKfid: string;
    /** Every configured kf account (WECOM_OPEN_KFID), the first one first. */
    readonly openKfids: readonly string[];
    readonly kfLinkId: string | undefined;
    readonly apiBase: string;
  };
  readonly auth: { readonly secret: string; readonly legacySharedSecret: boolean };
  readonly storage: {
    readonly databasePath: string;
    /** Set in cluster mode: one Redis by URL, or a Sentinel group. */
    readonly redis: RedisTarget | undefined;
    readonly redisKeyPrefix: string;
    readonly bindings: 'redis' | 'sqlite';
  };
  readonly gateway: {
    readonly helloTimeoutMs: number;
    readonly pingIntervalMs: number;
    readonly pongTimeoutMs: number;
    readonly maxPendingSocketsPerAddress: number;
    readonly trustedProxies: readonly string[];
    readonly maxPendingSockets: number;
    readonly maxHelloBytes: number;
    readonly maxPendingBytes: number;
    readonly sendBudgetBytes: number;
    readonly slowGatewayGraceMs: number;
  };
  readonly limits: { readonly maxWebhookBytes: number; readonly mediaMaxBytes: number; readonly mediaConcurrency: number };
  /** Media links (media_by_reference): where gateways fetch them, the HMAC key, how long they work, streams at once. */
  /** Outbound media a gateway names by URL. */
  readonly mediaUrls: { readonly timeoutMs: number; readonly allowPrivateNetworks: boolean };
  readonly mediaLinks: { readonly baseUrl: string; readonly secret: string; readonly ttlMs: number; readonly concurrency: number };
  readonly sync: { readonly pollIntervalMs: number; readonly firstPullMaxAgeMs: number; readonly leaseSpreadMs: number; readonly coalesceMs: number; readonly voiceFormat: 'amr' | 'silk' };
  readonly queue: { readonly maxAgeMs: number; readonly maxItems: number };
  /** Store calls per second the background re-check of connected gateways may spend (0 = off). */
  readonly deliverySweepCallsPerSecond: number;
  readonly drain: { readonly spreadMs: number };
  /** Quiet time before a node that grew its heap collects and gives memory back (0 = never). */
  readonly idleCollectAfterMs: number;
  /** Per-gateway token bucket on replies. */
  readonly replies: { readonly ratePerSecond: number; readonly burst: number };
  readonly binding: {
    readonly reuseWithinMs: number;
    readonly maxLiveTokens: number;
    readonly createPerMinute: number;
    readonly guessLimit: number;
    readonly guessWindowMs: number;
  };
  readonly redisHealth: {
    readonly commandTimeoutMs: number;
    readonly pingIntervalMs: number;
    readonly staleAfterMs: number;
    readonly reconnectAfterMs: number;
  };
  readonly webhook: { readonly deadlineMs: number; readonly replayWindowMs: number; readonly seenCacheSize: number };
  readonly http: {
    readonly requestTimeoutMs: number;
    readonly headersTimeoutMs: number;
    readonly connectionsCheckMs: number;
    readonly maxConnections: number;
  };
  readonly metrics: { readonly port: number; readonly host: string; readonly token: string | undefined };
  readonly refusalLogIntervalMs: number;
  readonly logFormat: Env['LOG_FORMAT'];
  readonly rebalance: { readonly intervalMs: number; readonly maxPerInterval: number; readonly tolerancePercent: number };
  /** The admin API; `tokens` empty means it is off. */
  readonly admin: { readonly host: string; readonly port: number; readonly tokens: readonly AdminToken[] };
  /** Values being retired during a rotation; accepted beside the current ones until removed. */
  readonly previous: {
    readonly authSecret: string | undefined;
    readonly wecomToken: string | undefined;
    readonly wecomEncodingAesKey: string | undefined;
  };
}

/** Shapes the parsed environment into the node's configuration. */
export function toRelayConfig(env: Env): RelayConfig {
  return deepFreeze({
    nodeId: env.NODE_ID ?? `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}-${randomBytes(3).toString('hex')}`,
    host: env.HOST,
    httpPort: env.PORT,
    wsPort: env.WS_PORT,
    locale: env.LOCALE,
    logLevel: env.LOG_LEVEL,
    wecom: {
      corpId: env.WECOM_CORPID,
      secret: env.WECOM_APP_SECRET,
      token: env.WECOM_TOKEN,
      encodingAesKey: env.WECOM_ENCODING_AES_KEY,
      openKfid: env.WECOM_OPEN_KFID[0]!,
      openKfids: env.WECOM_OPEN_KFID,
      kfLinkId: env.WECOM_KF_LINK_ID,
      apiBase: env.WECOM_API_BASE,
    },
    auth: { secret: env.RELAY_AUTH_SECRET, legacySharedSecret: env.RELAY_LEGACY_SHARED_SECRET_AUTH },
    storage: {
      databasePath: env.DATABASE_PATH,
      redis: redisTarget(env),
      redisKeyPrefix: env.REDIS_KEY_PREFIX,
      bindings: env.BINDINGS_STORE ?? (env.REDIS_URL || env.REDIS_SENTINELS || env.REDIS_CLUSTER_NODES ? 'redis' : 'sqlite'),
    },
    gateway: {
      helloTimeoutMs: env.HELLO_TIMEOUT_MS,
      pingIntervalMs: env.PING_INTERVAL_MS,
      pongTimeoutMs: env.PONG_TIMEOUT_MS,
      maxPendingSocketsPerAddress: env.MAX_PENDING_SOCKETS_PER_ADDRESS,
      trustedProxies: env.TRUSTED_PROXIES,
      maxPendingSockets: env.MAX_PENDING_SOCKETS,
      maxHelloBytes: env.MAX_HELLO_BYTES,
      maxPendingBytes: env.MAX_PENDING_BYTES,
      sendBudgetBytes: env.SEND_BUDGET_BYTES,
      slowGatewayGraceMs: env.SLOW_GATEWAY_GRACE_MS,
    },
    limits: {
      maxWebhookBytes: env.MAX_WEBHOOK_BYTES,
      mediaMaxBytes: env.MEDIA_MAX_BYTES,
      mediaConcurrency: env.MEDIA_CONCURRENCY,
    },
    mediaUrls: { timeoutMs: env.MEDIA_FETCH_TIMEOUT_MS, allowPrivateNetworks: env.MEDIA_FETCH_PRIVATE_NETWORKS },
    mediaLinks: {
      baseUrl: env.MEDIA_URL_BASE ?? `http://${env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST}:${env.PORT}`,
      secret: env.MEDIA_URL_SECRET ?? deriveMediaLinkSecret(env.RELAY_AUTH_SECRET),
      ttlMs: env.MEDIA_URL_TTL_MS,
      concurrency: env.MEDIA_URL_CONCURRENCY,
    },
    sync: { pollIntervalMs: env.SYNC_POLL_INTERVAL_MS, firstPullMaxAgeMs: env.SYNC_FIRST_PULL_MAX_AGE_MS, leaseSpreadMs: env.SYNC_LEASE_SPREAD_MS, coalesceMs: env.SYNC_COALESCE_MS, voiceFormat: env.WECOM_VOICE_FORMAT },
    queue: { maxAgeMs: env.QUEUE_MAX_AGE_MS, maxItems: env.QUEUE_MAX_ITEMS },
    deliverySweepCallsPerSecond: env.DELIVERY_SWEEP_CALLS_PER_SECOND,
    drain: { spreadMs: env.DRAIN_SPREAD_MS },
    idleCollectAfterMs: env.IDLE_COLLECT_AFTER_MS,
    replies: { ratePerSecond: env.REPLY_RATE_PER_SECOND, burst: env.REPLY_BURST },
    binding: {
      reuseWithinMs: env.BINDING_TOKEN_REUSE_MS,
      maxLiveTokens: env.BINDING_MAX_LIVE_TOKENS,
      createPerMinute: env.BINDING_CREATE_PER_MINUTE,
      guessLimit: env.BINDING_GUESS_LIMIT,
      guessWindowMs: env.BINDING_GUESS_WINDOW_MS,
    },
    redisHealth: {
      commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
      pingIntervalMs: env.REDIS_PING_INTERVAL_MS,
      staleAfterMs: env.REDIS_STALE_AFTER_MS,
      reconnectAfterMs: env.REDIS_RECONNECT_AFTER_MS,
    },
    webhook: {
      deadlineMs: env.WEBHOOK_DEADLINE_MS,
      replayWindowMs: env.WEBHOOK_REPLAY_WINDOW_MS,
      seenCacheSize: env.WEBHOOK_SEEN_CACHE_SIZE,
    },
    http: {
      requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
      connectionsCheckMs: env.HTTP_CONNECTIONS_CHECK_MS,
      maxConnections: env.HTTP_MAX_CONNECTIONS,
    },
    metrics: { port: env.METRICS_PORT, host: env.METRICS_HOST ?? env.HOST, token: env.METRICS_TOKEN },
    refusalLogIntervalMs: env.REFUSAL_LOG_INTERVAL_MS,
    logFormat: env.LOG_FORMAT,
    rebalance: {
      intervalMs: env.REBALANCE_INTERVAL_MS,
      maxPerInterval: env.REBALANCE_MAX_PER_INTERVAL,
      tolerancePercent: env.REBALANCE_TOLERANCE_PERCENT,
    },
    admin: { host: env.ADMIN_HOST, port: env.ADMIN_PORT, tokens: parseAdminTokens(env.ADMIN_TOKENS, env.ADMIN_TOKEN) },
    previous: {
      authSecret: env.RELAY_AUTH_SECRET_PREVIOUS,
      wecomToken: env.WECOM_TOKEN_PREVIOUS,
      wecomEncodingAesKey: env.WECOM_ENCODING_AES_KEY_PREVIOUS,
    },
  });
}

function redisTarget(env: Env): RedisTarget | undefined {
  if (env.REDIS_CLUSTER_NODES) {
    const entries = env.REDIS_CLUSTER_NODES.split(',');
    return {
      kind: 'cluster',
      nodes: entries.map((entry) => {
        const pair = entry.replace(/^rediss:\/\//, '');
        const at = pair.lastIndexOf(':');
        return { host: pair.slice(0, at), port: Number(pair.slice(at + 1)) };
      }),
      tls: entries[0]!.startsWith('rediss://'),
      password: env.REDIS_PASSWORD,
    };
  }
  if (env.REDIS_SENTINELS) {
    return {
      kind: 'sentinel',
      sentinels: env.REDIS_SENTINELS.split(',').map((pair) => {
        const at = pair.lastIndexOf(':');
        return { host: pair.slice(0, at), port: Number(pair.slice(at + 1)) };
      }),
      name: env.REDIS_SENTINEL_NAME,
      password: env.REDIS_PASSWORD,
    };
  }
  return env.REDIS_URL ? { kind: 'url', url: env.REDIS_URL } : undefined;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
