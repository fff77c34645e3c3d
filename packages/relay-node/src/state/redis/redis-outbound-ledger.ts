import { hash } from 'node:crypto';
import type { LedgerAccountOptions, OutboundLedger, SendReservation, SendWindow, SentReply, WindowRule } from '../outbound-ledger.js';
import { checkPrefix, hashTag, toPx } from './keyspace.js';
import { LuaScript } from './lua-script.js';
import { isClusterClient, type RedisClient } from './redis-client.js';
import { TickBatch } from './tick-batch.js';

/** A window is forgotten this long after it was written (a note within an hour of the last message does not count); WeCom's lasts 48 h. */
const WINDOW_TTL_MS = 3 * 24 * 3600 * 1000;
/** A note moves a window's expiry only this long after the last message (well inside the day the ttl has to spare). */
const REFRESH_AFTER_MS = 3600 * 1000;

/**
 * Lua: `note_spoken(window key, at (ms, as given), msgid ('' = none), its windowMark, ttl (ms))` notes that the customer
 * wrote, as customerSpoke does; the route script (one server) runs it too, so a page's windows are noted in the step
 * that queues. A newer customer message restarts the window; so does one of the same second not seen before (WeCom's
 * times are seconds); an older or repeated note is ignored. The second's messages are kept as marks (windowMark), the
 * last 7 of them: newline-joined they stay within 62 bytes, so the hash keeps Redis' compact encoding
 * (hash-max-listpack-value 64), where whole msgids turned it into a table of 300 bytes and more for good. A list
 * written by an earlier version holds whole msgids; they still count as seen, and are dropped oldest first. The expiry
 * is moved only by a new window or a message more than REFRESH_AFTER_MS after the last one: the last one's note (at or
 * after its send time) already gave the hash the ttl, so it lives past this message's 48 h as well, and a busy
 * customer's notes cost no PEXPIRE each.
 */
export const NOTE_SPOKEN_LUA = `
local function note_spoken(key, at_arg, msgid, mark, ttl)
  -- '0', not 0: Redis formats a number argument to redis.call with snprintf on each call.
  local at = tonumber(at_arg)
  local v = redis.call('HMGET', key, 'last', 'ids')
  local last = tonumber(v[1] or '-1')
  if at > last then
    redis.call('HSET', key, 'last', at_arg, 'sent', '0', 'ids', mark)
  elseif at == last and msgid ~= '' then
    local ids = v[2] or ''
    local padded = '\\n' .. ids .. '\\n'
    if not string.find(padded, '\\n' .. mark .. '\\n', 1, true) and not string.find(padded, '\\n' .. msgid .. '\\n', 1, true) then
      while #ids > 53 do ids = string.sub(ids, (string.find(ids, '\\n', 1, true) or #ids) + 1) end
      redis.call('HSET', key, 'sent', '0', 'ids', ids == '' and mark or ids .. '\\n' .. mark)
    end
  end
  if last < 0 or at - last > ${REFRESH_AFTER_MS} then redis.call('PEXPIRE', key, ttl) end
end
`;

/**
 * How a send window marks a message it noted: SHA-1's first 8 hex digits of the msgid ('' for none). Every version that
 * marks reads and writes this same mark, so a message noted by one node is known to the others as a repeat. Made by the
 * node, where the one-shot hash is cheap, rather than by the scripts: there it was about 4 % of what the route script
 * costs Redis (`bench/route-instructions.ts`: 171,000 instructions a message before, 164,700 after).
 */
export function windowMark(msgid: string): string {
  return msgid === '' ? '' : hash('sha1', msgid, 'hex').slice(0, 8);
}

// KEYS: window hashes; ARGV: ttl (ms), then per key at (ms), msgid ('' = none) and its windowMark, applied in order (a
// key may come twice).
const CUSTOMER_SPOKE = new LuaScript(
  'outbound-customer-spoke',
  `${NOTE_SPOKEN_LUA}
for k = 1, #KEYS do note_spoken(KEYS[k], ARGV[k * 3 - 1], ARGV[k * 3], ARGV[k * 3 + 1], ARGV[1]) end
return 1`,
);

/** The ttl (ms, as Redis takes it) a send window's note gives its hash. */
export const WINDOW_NOTE_PX = toPx(WINDOW_TTL_MS);

// Most windows one script call notes at once (a page names at most a thousand users).
const MAX_SPOKE_BATCH = 250;

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

/** One customerSpoke to write: the window's key, the message's time (ms) and its msgid ('' = none). */
interface Spoke {
  key: string;
  at: number;
  msgid: string;
}


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
  /** On one server, the notes of one turn (a page's users); null on a Redis Cluster, where each window is its own call. */
  private readonly spokes: TickBatch<Spoke, unknown> | null;

  constructor(opts: RedisOutboundLedgerOptions) {
    this.redis = opts.redis;
    this.firstOpenKfid = opts.firstOpenKfid;
    this.prefix = checkPrefix(opts.prefix);
    this.spokes = isClusterClient(this.redis) ? null : new TickBatch((batch) => this.noteBatch(batch), MAX_SPOKE_BATCH);
  }

  /**
   * On one server, the notes made in the same turn (a page's users, noted together) are written by one script call
   * instead of one each; on a Redis Cluster the windows sit in different slots, so each is its own call.
   */
  async customerSpoke(openKfid: string, externalUserId: string, atMs: number, msgid?: string): Promise<void> {
    const spoke: Spoke = { key: this.windowKey(openKfid, externalUserId), at: Math.floor(atMs), msgid: msgid ?? '' };
    if (!this.spokes) {
      await this.noteSpoken([spoke]);
      return;
    }
    // A batch answers each note with its error, or undefined when it is stored.
    const failure = await this.spokes.add(spoke);
    if (failure !== undefined) throw failure;
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

  /** One script call for the batch; if it fails, each window on its own, so one that cannot be written fails its caller only (noting twice changes nothing). */
  private async noteBatch(batch: Spoke[]): Promise<unknown[]> {
    try {
      await this.noteSpoken(batch);
      return batch.map(() => undefined);
    } catch {
      return await Promise.all(batch.map((spoke) => this.noteSpoken([spoke]).then(() => undefined, (err: unknown) => err ?? new Error('send-window note failed'))));
    }
  }

  private async noteSpoken(spokes: readonly Spoke[]): Promise<void> {
    const args: Array<string | number> = [WINDOW_NOTE_PX];
    for (const s of spokes) args.push(s.at, s.msgid, windowMark(s.msgid));
    await CUSTOMER_SPOKE.run(this.redis, spokes.map((s) => s.key), args);
  }

  /** The hash holding the send window of a user with an account, for scripts that note it themselves (NOTE_SPOKEN_LUA). */
  windowKey(openKfid: string, user: string): string {
    const base = `${this.prefix}${hashTag('user', user)}:window`;
    return openKfid === this.firstOpenKfid ? base : `${base}:${openKfid}`;
  }

  private senderKey(msgid: string): string {
    return `${this.prefix}sent:${msgid}`;
  }
}
