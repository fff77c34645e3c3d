import type { RedisClient } from './redis-client.js';
import type { LedgerAccountOptions, OutboundLedger, SendReservation, SendWindow, SentReply, WindowRule } from '../outbound-ledger.js';
import { checkPrefix, hashTag, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/** A window is forgotten this long after it was last touched; WeCom's lasts 48 h. */
const WINDOW_TTL_MS = 3 * 24 * 3600 * 1000;

// KEYS: window hash; ARGV: at (ms), ttl (ms), msgid ('' = none). A newer customer message restarts the window; so does
// one of the same second not seen before (WeCom's times are seconds); an older or repeated note is ignored.
const CUSTOMER_SPOKE = new LuaScript(
  'outbound-customer-spoke',
  `local v = redis.call('HMGET', KEYS[1], 'last', 'ids')
local last = tonumber(v[1] or '-1')
local at = tonumber(ARGV[1])
if at > last then
  redis.call('HSET', KEYS[1], 'last', ARGV[1], 'sent', 0, 'ids', ARGV[3])
elseif at == last and ARGV[3] ~= '' then
  local ids = v[2] or ''
  if not string.find('\\n' .. ids .. '\\n', '\\n' .. ARGV[3] .. '\\n', 1, true) then
    if #ids > 4096 then ids = '' end
    redis.call('HSET', KEYS[1], 'sent', 0, 'ids', ids .. '\\n' .. ARGV[3])
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
);

// KEYS: window hash; ARGV: at (ms), max sends, window (ms), ttl (ms). Check and count in one step, so concurrent
// replies on any number of nodes cannot all take the last slot. Returns {granted 0/1, last or '', sent before}.
const RESERVE_SEND = new LuaScript(
  'outbound-reserve-send',
  `local v = redis.call('HMGET', KEYS[1], 'last', 'sent')
local last = tonumber(v[1])
local sent = tonumber(v[2]) or 0
local granted = 0
if sent < tonumber(ARGV[2]) and (last == nil or tonumber(ARGV[1]) - last <= tonumber(ARGV[3])) then
  redis.call('HSET', KEYS[1], 'sent', sent + 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  granted = 1
end
return {granted, v[1] or '', sent}`,
);

// KEYS: window hash; ARGV: last as the reservation saw it ('' = none). A slot is given back only within the same window.
const RELEASE_SEND = new LuaScript(
  'outbound-release-send',
  `local v = redis.call('HMGET', KEYS[1], 'last', 'sent')
if (v[1] or '') ~= ARGV[1] then return 0 end
local sent = tonumber(v[2]) or 0
if sent > 0 then redis.call('HSET', KEYS[1], 'sent', sent - 1) end
return 1`,
);

// KEYS: window hash; ARGV: max sends, ttl (ms). The window counts as full until the customer writes again.
const CLOSE_WINDOW = new LuaScript(
  'outbound-close-window',
  `local sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '0')
if sent < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'sent', ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
);

/** Construction options for {@link RedisOutboundLedger}. */
export interface RedisOutboundLedgerOptions extends LedgerAccountOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

/**
 * Send windows as one hash per (kf account, user) in the user's slot: the first account's at `{user:<id>}:window`,
 * where a single-account relay kept it, any other's at `{user:<id>}:window:<open_kfid>`; senders as one key per WeCom msgid, expired by Redis. */
export class RedisOutboundLedger implements OutboundLedger {
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly firstOpenKfid: string | undefined;

  constructor(opts: RedisOutboundLedgerOptions) {
    this.redis = opts.redis;
    this.firstOpenKfid = opts.firstOpenKfid;
    this.prefix = checkPrefix(opts.prefix);
  }

  async customerSpoke(openKfid: string, externalUserId: string, atMs: number, msgid?: string): Promise<void> {
    await CUSTOMER_SPOKE.run(this.redis, [this.windowKey(openKfid, externalUserId)], [Math.floor(atMs), toPx(WINDOW_TTL_MS), msgid ?? '']);
  }

  async recordSend(openKfid: string, externalUserId: string, msgid: string, sender: SentReply | null, ttlMs: number): Promise<void> {
    const key = this.windowKey(openKfid, externalUserId);
    const tx = this.redis.multi().hincrby(key, 'sent', 1).pexpire(key, toPx(WINDOW_TTL_MS));
    await tx.exec();
    if (sender) await this.redis.set(this.senderKey(msgid), JSON.stringify(sender), 'PX', toPx(ttlMs));
  }

  async reserveSend(openKfid: string, externalUserId: string, atMs: number, rule: WindowRule): Promise<SendReservation> {
    const [granted, last, sent] = (await RESERVE_SEND.run(
      this.redis,
      [this.windowKey(openKfid, externalUserId)],
      [Math.floor(atMs), rule.maxSends, Math.floor(rule.windowMs), toPx(WINDOW_TTL_MS)],
    )) as [number, string, number];
    return { granted: granted === 1, window: { lastCustomerAt: last === '' ? null : Number(last), sentSince: Number(sent) } };
  }

  async releaseSend(openKfid: string, externalUserId: string, lastCustomerAt: number | null): Promise<void> {
    await RELEASE_SEND.run(this.redis, [this.windowKey(openKfid, externalUserId)], [lastCustomerAt === null ? '' : String(lastCustomerAt)]);
  }

  async closeWindow(openKfid: string, externalUserId: string, rule: WindowRule): Promise<void> {
    await CLOSE_WINDOW.run(this.redis, [this.windowKey(openKfid, externalUserId)], [rule.maxSends, toPx(WINDOW_TTL_MS)]);
  }

  async rememberSender(msgid: string, sender: SentReply, ttlMs: number): Promise<void> {
    await this.redis.set(this.senderKey(msgid), JSON.stringify(sender), 'PX', toPx(ttlMs));
  }

  async window(openKfid: string, externalUserId: string): Promise<SendWindow> {
    const [last, sent] = await this.redis.hmget(this.windowKey(openKfid, externalUserId), 'last', 'sent');
    return { lastCustomerAt: last === null ? null : Number(last), sentSince: sent === null ? 0 : Number(sent) };
  }

  async senderOf(msgid: string): Promise<SentReply | null> {
    const raw = await this.redis.get(this.senderKey(msgid));
    if (!raw) return null;
    try {
      const v = JSON.parse(raw) as Partial<SentReply>;
      if (typeof v.gatewayId === 'string' && typeof v.requestId === 'string' && typeof v.externalUserId === 'string') {
        return { gatewayId: v.gatewayId, requestId: v.requestId, externalUserId: v.externalUserId };
      }
    } catch {
      // A value this relay did not write: treat as unknown.
    }
    return null;
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }

  private windowKey(openKfid: string, user: string): string {
    const base = `${this.prefix}${hashTag('user', user)}:window`;
    return openKfid === this.firstOpenKfid ? base : `${base}:${openKfid}`;
  }

  private senderKey(msgid: string): string {
    return `${this.prefix}sent:${msgid}`;
  }
}
