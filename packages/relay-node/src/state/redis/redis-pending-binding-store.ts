import type { RedisClient } from './redis-client.js';
import type { PendingBindingStore, TokenIssueLimits, TokenIssueResult } from '../pending-binding-store.js';
import { checkPrefix, clientKeyPrefix, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/** Construction options for {@link RedisPendingBindingStore}. */
export interface RedisPendingBindingStoreOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

// Bumps a fixed window counter (it starts with its first count and lasts ARGV window ms).
const BUMP = `
local function bump(key, windowMs)
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, windowMs) end
  return count
end
`;

// KEYS[1] the proposed token's key, KEYS[2] the gateway's token index (zset token → created at, server ms),
// KEYS[3] the gateway's rate window. ARGV: token, gateway, ttl ms, reuse ms, max live, rate per window, rate window
// ms, token key prefix. The newest token's key is named from ARGV because it is only known here; it shares the
// {binding-tokens} tag. Time is the server's, so nodes with skewed clocks agree on what is recent.
const ISSUE = new LuaScript(
  'binding-token-issue',
  BUMP +
    `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[6]) then return {'rate_limited'} end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if newest[1] and #newest[1] == #ARGV[1] and tonumber(newest[2]) > now - tonumber(ARGV[4])
    and redis.call('EXISTS', ARGV[8] .. newest[1]) == 1 then
  bump(KEYS[3], ARGV[7])
  return {'reused', newest[1]}
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return {'too_many'} end
if not redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl, 'NX') then return {'collision'} end
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
bump(KEYS[3], ARGV[7])
return {'created', ARGV[1]}
`,
);

// KEYS[1] token key, KEYS[2] the event's use record; ARGV: remember ms, gateway index prefix, token.
// GET and DEL in one script are one atomic take (GETDEL without needing Redis 6.2): two events racing for a
// token cannot both get it. The index entry goes with it, so a used token no longer counts or is reused.
const CONSUME = new LuaScript(
  'binding-token-consume',
  `
local earlier = redis.call('GET', KEYS[2])
if earlier then return earlier end
local gateway = redis.call('GET', KEYS[1])
if not gateway then return false end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], gateway, 'PX', ARGV[1])
redis.call('ZREM', ARGV[2] .. gateway, ARGV[3])
return gateway
`,
);

// KEYS[1] the customer's miss window; ARGV: window ms.
const MISS = new LuaScript('binding-guess-miss', BUMP + `return bump(KEYS[1], ARGV[1])`);

/**
 * QR binding tokens as one key per token (expired by Redis itself), with a per-gateway index for the reuse and
 * cap rules, all under the `{binding-tokens}` hash tag so that issuing and consuming are single scripts. Guess
 * counts are one short-lived counter per customer.
 */
export class RedisPendingBindingStore implements PendingBindingStore {
  private readonly redis: RedisClient;
  private readonly base: string;
  private readonly guessBase: string;

  constructor(opts: RedisPendingBindingStoreOptions) {
    this.redis = opts.redis;
    const prefix = checkPrefix(opts.prefix);
    this.base = `${prefix}{binding-tokens}:`;
    this.guessBase = `${prefix}binding-guesses:`;
  }

  async issue(token: string, gatewayId: string, ttlMs: number, limits: TokenIssueLimits): Promise<TokenIssueResult> {
    const reply = await ISSUE.run(
      this.redis,
      [this.tokenKey(token), this.indexKey(gatewayId), `${this.base}rate:${gatewayId}`],
      [
        token,
        gatewayId,
        toPx(ttlMs),
        Math.max(0, Math.floor(limits.reuseWithinMs)),
        limits.maxLive,
        limits.ratePerWindow,
        toPx(limits.rateWindowMs),
        clientKeyPrefix(this.redis) + this.tokenKey(''),
      ],
    );
    const [outcome, issued] = reply as [TokenIssueResult['outcome'], string | undefined];
    if ((outcome === 'created' || outcome === 'reused') && typeof issued === 'string') return { outcome, token: issued };
    if (outcome === 'collision' || outcome === 'rate_limited' || outcome === 'too_many') return { outcome };
    throw new Error(`binding-token-issue returned ${JSON.stringify(reply)}`);
  }

  /**
   * Writes a live token issued elsewhere (a migration from another relay's database) until `expiresAtMs`; false
   * when a live token already has that value (it is not overwritten). It stays out of its gateway's index: it was
   * handed to a customer by the old relay, so create_binding must never hand it out again as a "recent" token, and
   * the per-gateway cap bounds what gateways mint here, not what a migration brings.
   */
  async carry(token: string, gatewayId: string, expiresAtMs: number, nowMs = Date.now()): Promise<boolean> {
    const left = Math.floor(expiresAtMs - nowMs);
    if (left <= 0) return false;
    return (await this.redis.set(this.tokenKey(token), gatewayId, 'PX', left, 'NX')) === 'OK';
  }

  async consume(token: string, eventId: string, rememberMs: number): Promise<string | null> {
    const reply = await CONSUME.run(this.redis, [this.tokenKey(token), this.usedKey(eventId)], [
      toPx(rememberMs),
      clientKeyPrefix(this.redis) + this.indexKey(''),
      token,
    ]);
    return typeof reply === 'string' ? reply : null;
  }

  async consumedBy(eventId: string): Promise<string | null> {
    return await this.redis.get(this.usedKey(eventId));
  }

  async noteGuessMiss(externalUserId: string, windowMs: number): Promise<number> {
    return Number(await MISS.run(this.redis, [this.guessBase + externalUserId], [toPx(windowMs)]));
  }

  async guessMisses(externalUserId: string): Promise<number> {
    return Number((await this.redis.get(this.guessBase + externalUserId)) ?? 0);
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }

  private tokenKey(token: string): string {
    return `${this.base}token:${token}`;
  }

  private indexKey(gatewayId: string): string {
    return `${this.base}gw:${gatewayId}`;
  }

  private usedKey(eventId: string): string {
    return `${this.base}used:${eventId}`;
  }
}
