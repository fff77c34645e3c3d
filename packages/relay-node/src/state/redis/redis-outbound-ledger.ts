import type { Redis } from 'ioredis';
import type { OutboundLedger, SendWindow, SentReply } from '../outbound-ledger.js';
import { checkPrefix, hashTag, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';

/** A window is forgotten this long after it was last touched; WeCom's lasts 48 h. */
const WINDOW_TTL_MS = 3 * 24 * 3600 * 1000;

// KEYS: window hash; ARGV: at (ms), ttl (ms). A newer customer message restarts the window; an older note is ignored.
const CUSTOMER_SPOKE = new LuaScript(
  'outbound-customer-spoke',
  `local last = tonumber(redis.call('HGET', KEYS[1], 'last') or '-1')
if tonumber(ARGV[1]) > last then
  redis.call('HSET', KEYS[1], 'last', ARGV[1], 'sent', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`,
);

/** Construction options for {@link RedisOutboundLedger}. */
export interface RedisOutboundLedgerOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: Redis;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
}

/** Send windows as one hash per user; senders as one key per WeCom msgid, expired by Redis. */
export class RedisOutboundLedger implements OutboundLedger {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(opts: RedisOutboundLedgerOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
  }

  async customerSpoke(externalUserId: string, atMs: number): Promise<void> {
    await CUSTOMER_SPOKE.run(this.redis, [this.windowKey(externalUserId)], [Math.floor(atMs), toPx(WINDOW_TTL_MS)]);
  }

  async recordSend(externalUserId: string, msgid: string, sender: SentReply | null, ttlMs: number): Promise<void> {
    const key = this.windowKey(externalUserId);
    const tx = this.redis.multi().hincrby(key, 'sent', 1).pexpire(key, toPx(WINDOW_TTL_MS));
    await tx.exec();
    if (sender) await this.redis.set(this.senderKey(msgid), JSON.stringify(sender), 'PX', toPx(ttlMs));
  }

  async window(externalUserId: string): Promise<SendWindow> {
    const [last, sent] = await this.redis.hmget(this.windowKey(externalUserId), 'last', 'sent');
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

  private windowKey(user: string): string {
    return `${this.prefix}${hashTag('user', user)}:window`;
  }

  private senderKey(msgid: string): string {
    return `${this.prefix}sent:${msgid}`;
  }
}
