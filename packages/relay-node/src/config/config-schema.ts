import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));
const port = z.coerce.number().int().min(0).max(65535);
const ms = z.coerce.number().int().min(1);
/** A required string whose absence is reported as such, with what the value is. */
const required = (what: string) =>
  z.string({ error: (iss) => (iss.input === undefined ? `is required (${what})` : 'must be a string') }).min(1, `is required (${what})`);

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
  WECOM_OPEN_KFID: required('the open_kfid of the kf account'),
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
  MAX_WEBHOOK_BYTES: ms.default(64 * 1024),
  MEDIA_MAX_BYTES: ms.default(10 * 1024 * 1024),
  MEDIA_CONCURRENCY: ms.default(4),
  QUEUE_MAX_AGE_MS: ms.default(3 * 24 * 3600 * 1000),
  QUEUE_MAX_ITEMS: ms.default(1_000),
  MAX_PENDING_SOCKETS_PER_ADDRESS: ms.default(64),
  /** Load balancers whose X-Forwarded-For is trusted (comma-separated IPs), so per-client limits see clients. */
  TRUSTED_PROXIES: z
    .string()
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .default([]),
  DRAIN_SPREAD_MS: z.coerce.number().int().min(0).default(5_000),
  /** Per-gateway token bucket on replies: sustained replies per second, and how many may go at once. */
  REPLY_RATE_PER_SECOND: z.coerce.number().positive().max(10_000).default(5),
  REPLY_BURST: z.coerce.number().int().min(1).max(100_000).default(20),
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
