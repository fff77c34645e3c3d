import type { RedisClient } from './redis-client.js';
import { RelayError } from '../../errors/relay-error.js';

/** The prefix every relay key starts with unless configured otherwise. */
export const DEFAULT_KEY_PREFIX = 'wr:';

/**
 * Checks a configured key prefix. Braces are refused because the first `{...}` in a key is its Redis
 * Cluster hash tag; a brace in the prefix would silently put unrelated keys into one slot (or split
 * keys a script needs together).
 */
export function checkPrefix(prefix: string | undefined): string {
  const value = prefix ?? DEFAULT_KEY_PREFIX;
  if (/[{}]/.test(value)) {
    throw new RelayError('CONFIG_INVALID', `redis key prefix must not contain braces: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * The prefix ioredis adds to KEYS by itself (its keyPrefix option). Scripts that build key names from
 * ARGV must add it too, or they would touch a different key than the one the client names.
 */
export function clientKeyPrefix(redis: RedisClient): string {
  return redis.options.keyPrefix ?? '';
}

/**
 * `{kind:id}` hash tag. An id containing `}` ends the tag early, but every key of that id still starts
 * with the same bytes, so they all still share a slot.
 */
export function hashTag(kind: string, id: string): string {
  return `{${kind}:${id}}`;
}

/** Milliseconds as the positive integer SET PX / PEXPIRE accept (they reject 0, negatives and fractions). */
export function toPx(ms: number): number {
  if (Number.isNaN(ms)) return 1;
  return Math.max(1, Math.min(Math.ceil(ms), MAX_PX));
}

// A century: "practically forever" while staying far below what Redis accepts.
const MAX_PX = 100 * 365 * 24 * 3600 * 1000;
