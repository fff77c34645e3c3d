import { envSchema } from '../../../packages/relay-node/src/config/config-schema.js';

/** Every variable a relay node reads, straight from its configuration schema. */
export const RELAY_ENV_NAMES: ReadonlySet<string> = new Set(Object.keys(envSchema.shape));

/** Variables that hold credentials: they belong in a Secret or an untracked .env, never in a tracked manifest. */
export const SECRET_ENV_NAMES: readonly string[] = [
  'WECOM_APP_SECRET',
  'WECOM_TOKEN',
  'WECOM_ENCODING_AES_KEY',
  'RELAY_AUTH_SECRET',
  'MEDIA_URL_SECRET',
  'REDIS_URL',
  'REDIS_PASSWORD',
];

/** Variables without a default: a node refuses to start unless each is set. */
export function requiredRelayEnvNames(): string[] {
  return Object.entries(envSchema.shape)
    .filter(([, schema]) => !schema.safeParse(undefined).success)
    .map(([name]) => name);
}

/** The names in `names` the relay would not read (typos, or variables that were renamed or never existed). */
export function unknownRelayEnvNames(names: Iterable<string>): string[] {
  return [...names].filter((name) => !RELAY_ENV_NAMES.has(name));
}

/** DRAIN_SPREAD_MS as a node would read it from this value (empty or absent means the default). */
export function effectiveDrainSpreadMs(value: string | undefined): number {
  return envSchema.shape.DRAIN_SPREAD_MS.parse(value === '' ? undefined : value);
}

/** A node closes sockets whose close handshake is unfinished this long after asking (the gateway server's default). */
const CLOSE_HANDSHAKE_SECONDS = 5;
/** Room for in-flight replies to WeCom, closing Redis and process exit. */
const SHUTDOWN_MARGIN_SECONDS = 10;

/**
 * The grace a node needs between SIGTERM and SIGKILL: the spread window, then unfinished close handshakes, then
 * a margin. An orchestrator's grace period must exceed it or the last gateways and replies are cut off.
 */
export function shutdownBudgetSeconds(drainSpreadMs: number): number {
  return Math.ceil(drainSpreadMs / 1000) + CLOSE_HANDSHAKE_SECONDS + SHUTDOWN_MARGIN_SECONDS;
}

/**
 * What a node would reject in this environment, as "NAME: problem" lines (empty when it would start). Empty
 * values count as unset, as the node's own loader treats them.
 */
export function relayEnvProblems(env: Record<string, string | undefined>): string[] {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const result = envSchema.safeParse(cleaned);
  return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}
