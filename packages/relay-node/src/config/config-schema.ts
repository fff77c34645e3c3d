import { z } from 'zod';
import { compileProxyTrust } from '../gateway/client-address.js';
import { parseAdminTokens } from '../admin/admin-tokens.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(1);
/** A required string whose absence is reported as such, with what the value is. */
const required = (what: string) =>
  z.string({ error: (iss) => (iss.input === undefined ? `is required (${what})` : 'must be a string') }).min(1, `is required (${what})`);

/** WeCom's open_kfid is `wk` and letters, digits, `_` or `-`; braces or spaces would break Redis hash tags and labels. */
const OPEN_KFID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * WECOM_OPEN_KFID: one open_kfid as deployed, or several separated by commas (spaces around them allowed). Each
 * must look like an open_kfid and appear once; an empty entry (`a,,b`, a trailing comma) is refused, not skipped.
 */
const openKfidList = required('the open_kfid of the kf account, or several separated by commas')
  .transform((v) => v.split(',').map((k) => k.trim()))
  .superRefine((ids, ctx) => {
    if (ids.some((k) => k === '')) ctx.addIssue({ code: 'custom', message: 'has an empty entry: list open_kfids separated by single commas' });
    const bad = ids.filter((k) => k !== '' && !OPEN_KFID.test(k));
    if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `is not an open_kfid (letters, digits, _ or -, at most 64): ${bad.join(', ')}` });
    const dup = ids.filter((k, i) => k !== '' && ids.indexOf(k) !== i);
    if (dup.length > 0) ctx.addIssue({ code: 'custom', message: `lists the same kf account twice: ${[...new Set(dup)].join(', ')}` });
  });

/** Below this, HMAC-derived gateway tokens are only as strong as a guessable secret. */
export const MIN_SECRET_LENGTH = 16;

/** Whether a RELAY_AUTH_SECRET is shorter than the minimum (tolerated only in the deployed relay's shared-secret mode). */
export function isWeakSecret(secret: unknown): boolean {
  return typeof secret === 'string' && secret.length < MIN_SECRET_LENGTH;
}

/**
 * The environment variables a node reads. The deployed single-node relay's names keep working unchanged;
 * everything added since has a default so an existing `.env` still starts a node.
 */
export const envSchema = z.object({
  WECOM_CORPID: required('the enterprise corpid'),
  WECOM_APP_SECRET: required('the secret of the app that manages the kf account'),
  WECOM_TOKEN: required('the callback Token set in the WeCom admin console'),
  WECOM_ENCODING_AES_KEY: required('the EncodingAESKey from the WeCom admin console')
    .regex(/^[a-zA-Z0-9]{43}$/, 'must be the 43-character EncodingAESKey from the WeCom admin console'),
  /** One kf account, or several separated by commas: each gets its own sync cursor, lease and binding link. */
  WECOM_OPEN_KFID: openKfidList,
  /**
   * Accepted so a deployed relay's `.env` starts unchanged, and ignored: binding links always come from
   * kf/add_contact_way with a scene, because WeCom returns scene_param only on such a link, unaltered.
   */
  WECOM_KF_LINK_ID: z.string().min(1).optional(),
  WECOM_API_BASE: z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://qyapi.weixin.qq.com' })
    .default('https://qyapi.weixin.qq.com')
    .transform((u) => u.replace(/\/+$/, '')),
  /** At least 16 characters; a shorter one (the deployed relay allowed any) only with the legacy mode, see below. */
  RELAY_AUTH_SECRET: required('gateway tokens are derived from it'),
  /** Weaker, opt-in: accept the shared secret itself as every gateway's auth_token, as the deployed relay did. */
  RELAY_LEGACY_SHARED_SECRET_AUTH: bool.default(false),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: port.default(8080),
  WS_PORT: port.default(8081),
  DATABASE_PATH: z.string().min(1).default('./data/relay.db'),
  LOCALE: z.enum(['zh', 'en']).default('zh'),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional(),
  /** Sentinel instead of one Redis: `host:port,host:port`; the master is REDIS_SENTINEL_NAME. */
  REDIS_SENTINELS: z
    .string()
    .regex(/^[^,:\s]+:\d+(,[^,:\s]+:\d+)*$/, 'must be host:port pairs separated by commas')
    .optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  /** Redis Cluster instead of one Redis: seed nodes `host:port,host:port` (`rediss://host:port` entries for TLS). */
  REDIS_CLUSTER_NODES: z
    .string()
    .regex(
      /^((rediss:\/\/)?[^,:\s/]+:\d+)(,(rediss:\/\/)?[^,:\s/]+:\d+)*$/,
      'must be host:port (or rediss://host:port for TLS) entries separated by commas',
    )
    .refine((v) => new Set(v.split(',').map((e) => e.startsWith('rediss://'))).size === 1, 'use rediss:// for every entry or for none')
    .optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** Every key the relay writes starts with this, so several relays (or test runs) can share one Redis. */
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[^{}\s]{1,64}$/, 'up to 64 characters, no spaces or braces (braces are Redis Cluster hash tags)')
    .default('wr:'),
  /** Where bindings live in cluster mode: Redis (default) or SQLite at DATABASE_PATH on a shared volume. */
  BINDINGS_STORE: z.enum(['redis', 'sqlite']).optional(),
  NODE_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, . _ - only (max 64)').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HELLO_TIMEOUT_MS: ms.default(5_000),
  PING_INTERVAL_MS: ms.default(30_000),
  PONG_TIMEOUT_MS: ms.default(10_000),
  SYNC_POLL_INTERVAL_MS: ms.default(30_000),
  SYNC_FIRST_PULL_MAX_AGE_MS: ms.default(10 * 60_000),
  /** A node already pulling k other kf accounts waits k times this before taking another's lease (0 = never waits). */
  SYNC_LEASE_SPREAD_MS: z.coerce.number().int().min(0).max(10_000).default(250),
  /** A node that takes a pull lease waits this long before its first pull, so callbacks arriving together share it. */
  SYNC_COALESCE_MS: z.coerce.number().int().min(0).max(1_000).default(5),
  MAX_WEBHOOK_BYTES: ms.default(64 * 1024),
  MEDIA_MAX_BYTES: ms.default(10 * 1024 * 1024),
  /** Customers' voice as WeCom delivers it by default (AMR) or in WeChat's own SILK (sync_msg voice_format 1). */
  WECOM_VOICE_FORMAT: z.enum(['amr', 'silk']).default('amr'),
  MEDIA_CONCURRENCY: ms.default(4),
  /** Outbound media named by URL (`send` media_url): how long one fetch may take. */
  MEDIA_FETCH_TIMEOUT_MS: ms.default(30_000),
  /** Whether gateway-named media URLs may point at loopback, private or link-local addresses (off: no SSRF). */
  MEDIA_FETCH_PRIVATE_NETWORKS: bool.default(false),
  /** Where gateways reach this node's HTTP port, for media links (media_by_reference); default http://HOST:PORT. */
  MEDIA_URL_BASE: z.string().url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://relay.example.com' }).optional(),
  /** HMAC key of media links, shared by every node; derived from RELAY_AUTH_SECRET when unset. */
  MEDIA_URL_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  MEDIA_URL_TTL_MS: ms.max(24 * 3600 * 1000).default(15 * 60_000),
  /** Media links streamed at once per node; more are answered 503 MEDIA_LINK_BUSY. */
  MEDIA_URL_CONCURRENCY: ms.default(16),
  QUEUE_MAX_AGE_MS: ms.default(3 * 24 * 3600 * 1000),
  QUEUE_MAX_ITEMS: ms.default(1_000),
  /** Store calls per second the background re-check of connected gateways may spend (0 = off). */
  DELIVERY_SWEEP_CALLS_PER_SECOND: z.coerce.number().int().min(0).max(100_000).default(30),
  MAX_PENDING_SOCKETS_PER_ADDRESS: ms.default(64),
  /**
   * Load balancers whose X-Forwarded-For is trusted, so per-client limits see clients: comma-separated addresses,
   * CIDR ranges, or `loopback` / `linklocal` / `uniquelocal`.
   */
  TRUSTED_PROXIES: z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .superRefine((entries, ctx) => {
      try {
        compileProxyTrust(entries);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `must be IP addresses or CIDR ranges (${(err as Error).message})` });
      }
    })
    .default([]),
  DRAIN_SPREAD_MS: z.coerce.number().int().min(0).default(5_000),
  /** After this long with the event loop nearly idle, a node that grew its heap runs one full collection to give memory back (0 = never). */
  IDLE_COLLECT_AFTER_MS: z.coerce.number().int().min(0).max(3_600_000).default(1_000),
  /** Per-gateway token bucket on replies: sustained replies per second, and how many may go at once. */
  REPLY_RATE_PER_SECOND: z.coerce.number().positive().max(10_000).default(5),
  REPLY_BURST: z.coerce.number().int().min(1).max(100_000).default(20),
  /** create_binding again within this long gets the gateway's newest unused token back (0 = always a new one). */
  BINDING_TOKEN_REUSE_MS: z.coerce.number().int().min(0).default(10_000),
  /** Unused binding tokens a gateway may hold; more are refused until one is used or expires (10 min). */
  BINDING_MAX_LIVE_TOKENS: z.coerce.number().int().min(1).max(100).default(100),
  BINDING_CREATE_PER_MINUTE: ms.default(30),
  /** Typed tokens naming none, per customer and window, before that customer's typed tokens are not tried. */
  BINDING_GUESS_LIMIT: ms.default(5),
  BINDING_GUESS_WINDOW_MS: ms.default(10 * 60_000),
  /** A Redis command with no answer within this long fails (a stalled server is seen, not waited on forever). */
  REDIS_COMMAND_TIMEOUT_MS: ms.default(2_000),
  /** How often the node PINGs Redis to know it answers; readiness needs a reply younger than REDIS_STALE_AFTER_MS. */
  REDIS_PING_INTERVAL_MS: ms.default(1_000),
  REDIS_STALE_AFTER_MS: ms.default(3_000),
  /** With no PING reply for this long the connection is remade (a silently dead socket never recovers); 0 = never. */
  REDIS_RECONNECT_AFTER_MS: z.coerce.number().int().min(0).default(15_000),
  /** A callback whose pull could not be noted within this long is answered 503 (WeCom gives up after 5 s). */
  WEBHOOK_DEADLINE_MS: ms.max(4_500).default(3_000),
  /** Callbacks whose timestamp or CreateTime is further than this from the node's clock are refused. */
  WEBHOOK_REPLAY_WINDOW_MS: ms.default(5 * 60_000),
  /** How many recent callback signatures a node remembers, to answer exact replays without pulling again. */
  WEBHOOK_SEEN_CACHE_SIZE: ms.default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: ms.default(15_000),
  HTTP_HEADERS_TIMEOUT_MS: ms.default(10_000),
  /** How often Node checks the two timeouts above; a slow request lives at most the timeout plus this. */
  HTTP_CONNECTIONS_CHECK_MS: ms.default(1_000),
  HTTP_MAX_CONNECTIONS: ms.default(1_024),
  /** Prometheus /metrics on a port of its own, never the public webhook port. */
  METRICS_PORT: port.default(9464),
  METRICS_HOST: z.string().min(1).optional(),
  /** When set, /metrics asks for `Authorization: Bearer <token>`. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Refused requests are logged at most once per source address and reason within this interval. */
  REFUSAL_LOG_INTERVAL_MS: ms.default(60_000),
  /** Unauthenticated sockets on the whole node. */
  MAX_PENDING_SOCKETS: ms.default(1_024),
  /** Bytes a socket may send before its hello is read (a hello is a few hundred bytes). */
  MAX_HELLO_BYTES: z.coerce.number().int().min(1_024).default(8 * 1024),
  /** Bytes all unauthenticated sockets together may have sent before their hellos are read. */
  MAX_PENDING_BYTES: ms.default(4 * 1024 * 1024),
  /** Node-wide bytes held for gateways: frames waiting in their sockets and media in flight. */
  SEND_BUDGET_BYTES: ms.default(128 * 1024 * 1024),
  /** A gateway over its share of the send budget whose socket does not drain for this long is closed 4009. */
  SLOW_GATEWAY_GRACE_MS: ms.default(10_000),
  /** `auto`: one readable line per event at a terminal, JSON when stdout is a file or pipe. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** During a rotation: tokens derived from this retiring secret are still accepted (see docs/operations.md). */
  RELAY_AUTH_SECRET_PREVIOUS: z.string().min(1).optional(),
  /** During a change in WeCom's console: callbacks signed with the old Token are still accepted. */
  WECOM_TOKEN_PREVIOUS: z.string().min(1).optional(),
  /** During a change in WeCom's console: callbacks encrypted with the old EncodingAESKey are still accepted. */
  WECOM_ENCODING_AES_KEY_PREVIOUS: z
    .string()
    .regex(/^[a-zA-Z0-9]{43}$/, 'must be the 43-character EncodingAESKey from the WeCom admin console')
    .optional(),
  /** Admin API: off unless ADMIN_TOKEN or ADMIN_TOKENS is set; loopback by default. */
  ADMIN_PORT: port.default(9465),
  ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
  /** One bearer token for the admin API (logged as `admin`). */
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Rebalancing: every interval, a node above the cluster average by more than the tolerance closes some sockets. */
  REBALANCE_INTERVAL_MS: ms.default(10_000),
  /** At most this many sockets closed (1012) per node per interval; 0 turns rebalancing off. */
  REBALANCE_MAX_PER_INTERVAL: z.coerce.number().int().min(0).default(5),
  REBALANCE_TOLERANCE_PERCENT: z.coerce.number().int().min(0).max(1000).default(20),
  /** Named bearer tokens, `name:token,name:token`; the name is logged with every action. */
  ADMIN_TOKENS: z
    .string()
    .min(1)
    .superRefine((value, ctx) => {
      try {
        parseAdminTokens(value, undefined);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .optional(),
}).refine((env) => !isWeakSecret(env.RELAY_AUTH_SECRET) || env.RELAY_LEGACY_SHARED_SECRET_AUTH === true, {
  path: ['RELAY_AUTH_SECRET'],
  message:
    `must be at least ${MIN_SECRET_LENGTH} characters: set a longer secret and give each gateway its token from ` +
    '`pnpm relay token <gateway_id>` (a shorter secret from the deployed relay is accepted only with ' +
    'RELAY_LEGACY_SHARED_SECRET_AUTH=true)',
  // Checked even when other variables are invalid, so every problem is reported at once.
  when: () => true,
}).refine((env) => [env.REDIS_URL, env.REDIS_SENTINELS, env.REDIS_CLUSTER_NODES].filter(Boolean).length <= 1, {
  path: ['REDIS_CLUSTER_NODES'],
  message: 'set only one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES',
});

/** Raw parsed environment. */
export type Env = z.infer<typeof envSchema>;
