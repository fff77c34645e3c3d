import type { QueuedEvent } from '@wecom-relay/shared';
import { RelayError } from '../../errors/relay-error.js';
import { DEFAULT_QUEUE_DEDUP_TTL_MS, isQueuedEvent, queueDedupOf, type AppendedRun, type DeliveryQueue, type QueueAppendEntry, type QueueAppendOptions, type QueuedItem } from '../delivery-queue.js';
import type { PresenceEntry } from '../presence-map.js';
import { checkPrefix, clientKeyPrefix, hashTag, toPx } from './keyspace.js';
import { isClusterClient, type RedisClient } from './redis-client.js';
import { TickBatch } from './tick-batch.js';
import { packedField } from './packed-keys.js';
import { packedFieldArg, packedTreePx } from './packed-tree.js';
import { APPEND_MANY, APPEND_MANY_READING_OWNER, APPEND_ONCE, EVENT_FIELD, MARKER_KEY_INFIX, MARKER_ROOT_INFIX, QUEUE_SUFFIX, TRIM } from './redis-queue-scripts.js';
import type { StateLogger } from './state-logger.js';
import { checkStreamId, streamIdMillis } from './stream-id.js';
import { RedisAckWriter } from './redis-ack-writer.js';
import { ExpiryRefreshes } from './expiry-refreshes.js';
import { RecentMap } from '../../util/recent-map.js';

/** Construction options for {@link RedisDeliveryQueue}. */
export interface RedisDeliveryQueueOptions {
  /** A connected client owned by the caller; never closed here. */
  redis: RedisClient;
  /** Key prefix; default 'wr:'. */
  prefix?: string;
  /** Where to report entries that cannot be decoded (and are therefore dropped). */
  logger?: StateLogger;
  /**
   * A gateway's queue and acked pointer expire after this long without an append or an acknowledgement (an append
   * moves the queue's expiry at most hourly, so it may go up to an hour sooner: see ExpiryRefreshes), so the keys of
   * gateways that never come back do not stay in Redis forever. Keep it over an hour above the retention age (whatever
   * is older is trimmed anyway). Default 4 days.
   */
  idleTtlMs?: number;
  /**
   * Where a gateway's owner record sits (a key of the gateway's slot). Given on a Redis Cluster, an append reads it
   * in the same script: see {@link RedisDeliveryQueue.appendReadingOwner}.
   */
  ownerKeyOf?: (gatewayId: string) => string;
  /** The clock that times the queues' expiry refreshes; default Date.now. */
  now?: () => number;
}

// Cap for an unbounded read (limit = Infinity), so one call cannot pull a whole huge stream.
const MAX_READ = 10_000;

// A gateway's queue idles out after this long by default (see RedisDeliveryQueueOptions.idleTtlMs).
const DEFAULT_IDLE_TTL_MS = 4 * 24 * 3600 * 1000;

// Gateways whose queue's last id a node remembers, about 100 bytes each: a pulling node appends for every gateway.
const REMEMBERED_TAILS = 65_536;

/**
 * Delivery queues as one Redis Stream per gateway; queue ids are the stream ids, so they order as the
 * stream does and carry the server time of the append. The acked pointer and the dedup markers share the
 * gateway's `{gw:<id>}` tag so ack and an idempotent append each run as one script. Markers with a `dedupAt` are
 * packed, one hash per hour of it (`dp:<hour>`, each field a key's fingerprint), instead of a key each; a marker key of its own
 * (written without dedupAt, or by an older relay) still refuses its key.
 */
export class RedisDeliveryQueue implements DeliveryQueue {
  private readonly idleTtlPx: number;
  /** The gateways whose queue expiry this node set lately: appends to them (here and by a route appender) leave it. */
  readonly expiryRefreshes: ExpiryRefreshes;
  /**
   * The id this node last appended to each gateway's queue, so a script that must know what an append follows can
   * confirm the queue's tail with a read that returns nothing (`XREVRANGE <stream> + (<id> COUNT 1`) instead of reading
   * its last entry, event and all. What this node does not know, or knows wrongly (another node appended since), costs
   * that read as before. Kept by every append made here and by the route appender.
   */
  readonly tails = new RecentMap<string, string>(REMEMBERED_TAILS);
  private readonly redis: RedisClient;
  private readonly prefix: string;
  private readonly logger: StateLogger | undefined;
  /**
   * On one server, the appends and reads made side by side (a page's gateways, the drains one wake-up starts) go out
   * as one script each. A Redis Cluster keeps one call per gateway: each gateway's keys sit in their own slot.
   */
  private readonly appends: TickBatch<GatewayAppend, unknown[]> | null;
  private readonly ranges: TickBatch<{ key: string; start: string; count: number }, Array<[string, string[]]>> | null;
  private readonly trims: TickBatch<GatewayTrim, number> | null;
  private readonly acks: RedisAckWriter;
  /**
   * On a Redis Cluster built with ownerKeyOf: {@link appendMany} that also reads the gateway's owner record after the
   * appends, in the same script (the record shares the gateway's slot), so waking the gateway's node needs no lookup
   * of its own: one round trip where appending, reading the owner and checking that node's liveness took three. The
   * owner comes as recorded, alive or not: a wake-up for a node that is gone reaches nobody, as one never sent would.
   * Undefined on one server, where a page's appends and owner reads are batched across gateways instead.
   */
  readonly appendReadingOwner: ((gatewayId: string, entries: readonly QueueAppendEntry[]) => Promise<{ ids: Array<string | null>; owner: PresenceEntry | null; run?: AppendedRun }>) | undefined;

  constructor(opts: RedisDeliveryQueueOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
    this.logger = opts.logger;
    this.idleTtlPx = toPx(opts.idleTtlMs ?? DEFAULT_IDLE_TTL_MS);
    this.expiryRefreshes = new ExpiryRefreshes({ ttlMs: this.idleTtlPx, ...(opts.now ? { now: opts.now } : {}) });
    const single = !isClusterClient(this.redis);
    this.appends = single ? new TickBatch((batch) => this.appendForMany(batch), 128) : null;
    // A read asks for at most a drain batch (50), so 64 reads bound one reply to a few thousand entries.
    this.ranges = single ? new TickBatch((reads) => this.rangeMany(reads), 64) : null;
    this.trims = single ? new TickBatch((trims) => this.trimMany(trims), 128) : null;
    this.acks = new RedisAckWriter({
      redis: this.redis,
      idleTtlPx: this.idleTtlPx,
      keysOf: (gatewayId) => [this.streamKey(gatewayId), this.ackedKey(gatewayId)],
    });
    const ownerKeyOf = opts.ownerKeyOf;
    this.appendReadingOwner = single || !ownerKeyOf ? undefined : (gatewayId, entries) => this.appendAndReadOwner(gatewayId, entries, ownerKeyOf(gatewayId));
  }

  /** Appends an event unless its dedupKey is still remembered for this gateway; resolves to the id or null. */
  append(gatewayId: string, event: QueuedEvent): Promise<string>;
  append(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): Promise<string | null>;
  async append(gatewayId: string, event: QueuedEvent, options?: QueueAppendOptions): Promise<string | null> {
    const dedup = queueDedupOf(options);
    if (dedup?.at !== undefined) return (await this.appendMany(gatewayId, [{ event, ...(options ? { options } : {}) }]))[0] ?? null;
    const json = JSON.stringify(event);
    if (dedup !== null) {
      const keys = [this.streamKey(gatewayId), this.dedupKey(gatewayId, dedup.key)];
      const id = await APPEND_ONCE.run(this.redis, keys, [json, toPx(dedup.ttlMs), this.idleTtlPx]);
      if (id === null || typeof id === 'string') return id;
      throw new RelayError('INTERNAL', 'append script returned no id', { gatewayId });
    }
    const key = this.streamKey(gatewayId);
    const [[addErr, id] = [], [expireErr] = []] = (await this.redis.multi().xadd(key, '*', EVENT_FIELD, json).pexpire(key, this.idleTtlPx).exec()) ?? [];
    if (addErr || expireErr) throw addErr ?? expireErr;
    if (typeof id !== 'string') throw new RelayError('INTERNAL', 'XADD returned no id', { gatewayId });
    return id;
  }

  /** Appends the entries with one script call: one round trip, all keys in the gateway's slot. */
  async appendMany(gatewayId: string, entries: readonly QueueAppendEntry[]): Promise<Array<string | null>> {
    if (entries.length === 0) return [];
    const append = this.appendCall(gatewayId, entries);
    const ids = this.appends ? await this.appends.add(append) : await APPEND_MANY.run(this.redis, append.keys, [this.idleTtlPx, ...append.args]);
    return this.appended(gatewayId, append, ids);
  }

  private async appendAndReadOwner(
    gatewayId: string,
    entries: readonly QueueAppendEntry[],
    ownerKey: string,
  ): Promise<{ ids: Array<string | null>; owner: PresenceEntry | null; run?: AppendedRun }> {
    const append = this.appendCall(gatewayId, entries);
    const reply = await APPEND_MANY_READING_OWNER.run(this.redis, [...append.keys, ownerKey], [this.idleTtlPx, this.tails.get(gatewayId) ?? '', ...append.args]);
    if (!Array.isArray(reply) || reply.length !== entries.length + 3) throw new RelayError('INTERNAL', 'append script returned no ids', { gatewayId });
    const [node, gen, before] = reply.slice(entries.length);
    const ids = this.appended(gatewayId, append, reply.slice(0, entries.length));
    // What went in follows on in the stream (the entries a marker refused left no gap): the run a wake-up carries.
    const items = entries.flatMap(({ event }, i) => (ids[i] ? [{ id: ids[i]!, event, enqueuedAt: streamIdMillis(ids[i]!) }] : []));
    return {
      ids,
      owner: typeof node === 'string' && gen != null ? { nodeId: node, generation: Number(gen) } : null,
      ...(items.length > 0 ? { run: { after: typeof before === 'string' && before !== '' ? before : null, items } } : {}),
    };
  }

  /** One gateway's share of an append script call: its keys, and its arguments after the idle ttl. */
  private appendCall(gatewayId: string, entries: readonly QueueAppendEntry[]): GatewayAppend {
    const keys = [this.streamKey(gatewayId)];
    const refresh = this.expiryRefreshes.due(gatewayId);
    const args: Array<string | number> = [entries.length, refresh ? '1' : ''];
    for (const { event, options } of entries) {
      const dedup = queueDedupOf(options);
      if (dedup === null) {
        args.push(JSON.stringify(event), 0, '');
      } else if (dedup.at === undefined) {
        args.push(JSON.stringify(event), toPx(dedup.ttlMs), '');
        keys.push(this.dedupKey(gatewayId, dedup.key));
      } else {
        args.push(JSON.stringify(event), markerPx(dedup.ttlMs), packedFieldArg(packedField(dedup.key)));
        keys.push(this.packedDedupKey(gatewayId, dedup.at), this.dedupKey(gatewayId, dedup.key));
      }
    }
    return { keys, args, count: entries.length, refreshedAt: refresh ? this.expiryRefreshes.started() : null };
  }

  /** The ids of a gateway's append; an expiry refresh it asked for is noted once an entry went in (and set it). */
  private appended(gatewayId: string, append: GatewayAppend, ids: unknown): Array<string | null> {
    const out = this.appendedIds(gatewayId, ids, append.count);
    const last = out.findLast((id): id is string => id !== null);
    if (last !== undefined) {
      if (append.refreshedAt !== null) this.expiryRefreshes.noted(gatewayId, append.refreshedAt);
      this.tails.set(gatewayId, last);
    }
    return out;
  }

  private appendedIds(gatewayId: string, ids: unknown, count: number): Array<string | null> {
    if (!Array.isArray(ids) || ids.length !== count) throw new RelayError('INTERNAL', 'append script returned no ids', { gatewayId });
    return ids.map((id) => (typeof id === 'string' && id !== '' ? id : null));
  }

  async readAfter(gatewayId: string, afterId: string | null, limit: number): Promise<QueuedItem[]> {
    let start = afterId === null ? '-' : `(${checkStreamId(afterId)}`;
    const wanted = Number.isFinite(limit) ? Math.floor(limit) : limit > 0 ? MAX_READ : 0;
    const items: QueuedItem[] = [];
    // Undecodable entries are removed and the read continues, so one bad entry cannot stall a gateway. A short
    // read with nothing dropped is the end of the stream: asking again would cost a second XRANGE for nothing.
    while (items.length < wanted) {
      const asked = wanted - items.length;
      const key = this.streamKey(gatewayId);
      const rows = this.ranges ? await this.ranges.add({ key, start, count: asked }) : await this.redis.xrange(key, start, '+', 'COUNT', asked);
      let dropped = false;
      for (const [id, fields] of rows) {
        const item = decodeItem(id, fields);
        if (item) items.push(item);
        else {
          await this.dropUndecodable(gatewayId, id);
          dropped = true;
        }
      }
      if (rows.length < asked && !dropped) break;
      if (rows.length === 0) break;
      start = `(${rows[rows.length - 1]![0]}`;
    }
    return items;
  }

  /** As {@link RedisAckWriter.ack}: coalesced per gateway, batched over gateways on one server. */
  async ack(gatewayId: string, id: string, prev?: string): Promise<void> {
    checkStreamId(id);
    if (prev !== undefined) checkStreamId(prev);
    await this.acks.ack(gatewayId, id, prev);
  }

  async lastAcked(gatewayId: string): Promise<string | null> {
    return await this.redis.get(this.ackedKey(gatewayId));
  }

  /** Entries still in the stream (acknowledged ones are deleted) and the server time of the first. */
  async backlog(gatewayId: string): Promise<{ items: number; oldestEnqueuedAt: number | null }> {
    const key = this.streamKey(gatewayId);
    const [items, first] = await Promise.all([this.redis.xlen(key), this.redis.xrange(key, '-', '+', 'COUNT', 1)]);
    const oldestId = first[0]?.[0];
    return { items, oldestEnqueuedAt: oldestId === undefined ? null : streamIdMillis(oldestId) };
  }

  async trim(gatewayId: string, limits: { maxAgeMs: number; maxItems: number }): Promise<number> {
    const maxItems = Number.isFinite(limits.maxItems) ? Math.max(0, Math.floor(limits.maxItems)) : Number.MAX_SAFE_INTEGER;
    const maxAge = Number.isFinite(limits.maxAgeMs) ? Math.max(0, Math.floor(limits.maxAgeMs)) : -1;
    const trim = { key: this.streamKey(gatewayId), maxItems, maxAge };
    return this.trims ? await this.trims.add(trim) : (await this.trimMany([trim]))[0]!;
  }

  /** One script call for the trims of several gateways; each gets back the entries it dropped. */
  private async trimMany(trims: GatewayTrim[]): Promise<number[]> {
    const dropped = await TRIM.run(
      this.redis,
      trims.map((t) => t.key),
      trims.flatMap((t) => [t.maxItems, t.maxAge]),
    );
    if (!Array.isArray(dropped) || dropped.length !== trims.length) throw new RelayError('INTERNAL', 'trim script returned no counts', { gateways: trims.length });
    return dropped.map((n) => (typeof n === 'number' ? n : 0));
  }

  async close(): Promise<void> {
    // Nothing of its own to release.
  }

  /** One script for the appends of several gateways; each gets back its own ids. */
  private async appendForMany(batch: GatewayAppend[]): Promise<unknown[][]> {
    const keys = batch.flatMap((b) => b.keys);
    const args = [this.idleTtlPx, ...batch.flatMap((b) => b.args)];
    const ids = await APPEND_MANY.run(this.redis, keys, args);
    const total = batch.reduce((n, b) => n + b.count, 0);
    if (!Array.isArray(ids) || ids.length !== total) throw new RelayError('INTERNAL', 'append script returned no ids', { gateways: batch.length });
    let at = 0;
    return batch.map((b) => ids.slice(at, (at += b.count)));
  }

  /**
   * The reads of one tick as XREAD calls: one XREAD takes many streams, each from its own exclusive start, and answers
   * the entries themselves, where a script would convert every entry into Lua and back (measured three times the
   * server's CPU per entry read). XREAD takes one COUNT for all its streams and names each stream once, so the reads
   * go out grouped by count, a stream read twice in one tick going in a later call.
   */
  private async rangeMany(reads: Array<{ key: string; start: string; count: number }>): Promise<Array<Array<[string, string[]]>>> {
    const calls: Array<{ count: number; at: number[] }> = [];
    reads.forEach((read, index) => {
      const call = calls.find((c) => c.count === read.count && c.at.every((i) => reads[i]!.key !== read.key));
      if (call) call.at.push(index);
      else calls.push({ count: read.count, at: [index] });
    });
    const out: Array<Array<[string, string[]]>> = reads.map(() => []);
    await Promise.all(
      calls.map(async ({ count, at }) => {
        const keys = at.map((i) => reads[i]!.key);
        const starts = at.map((i) => (reads[i]!.start === '-' ? '0-0' : reads[i]!.start.slice(1)));
        const reply = (await this.redis.xread('COUNT', count, 'STREAMS', ...keys, ...starts)) as Array<[string, Array<[string, string[]]>]> | null;
        if (reply !== null && !Array.isArray(reply)) throw new RelayError('INTERNAL', 'XREAD returned no rows', { gateways: at.length });
        // The reply names each stream as the server does, with the client's own keyPrefix.
        const rows = new Map(reply ?? []);
        const named = clientKeyPrefix(this.redis);
        at.forEach((i, n) => (out[i] = rows.get(named + keys[n]!) ?? []));
      }),
    );
    return out;
  }

  private async dropUndecodable(gatewayId: string, id: string): Promise<void> {
    this.logger?.error({ gatewayId, id }, 'delivery queue entry could not be decoded; dropped');
    await this.redis.xdel(this.streamKey(gatewayId), id);
  }

  /**
   * Where a gateway's queue and an entry's dedup marker are kept, for scripts that append beside other work on one
   * server: the stream, and the marker as MARKER_PLACE_LUA takes it. The expiries such a script gives are
   * {@link appendExpiries}.
   */
  placeOf(gatewayId: string, dedupKey: string, at: number): AppendPlace {
    return { stream: this.streamKey(gatewayId), marker: `${markerHour(at)}:${dedupKey}` };
  }

  /** The expiries (ms, as Redis takes them) of what {@link placeOf} places: a marker's (default dedup ttl) and a queue's when idle. */
  get appendExpiries(): { markerPx: number; idlePx: number } {
    return { markerPx: markerPx(DEFAULT_QUEUE_DEDUP_TTL_MS), idlePx: this.idleTtlPx };
  }

  private streamKey(gatewayId: string): string {
    return `${this.prefix}${hashTag('gw', gatewayId)}${QUEUE_SUFFIX}`;
  }

  private dedupKey(gatewayId: string, key: string): string {
    // The key follows the tag, so braces or colons in it cannot move the marker to another slot.
    return `${this.prefix}${hashTag('gw', gatewayId)}${MARKER_KEY_INFIX}${key}`;
  }

  private packedDedupKey(gatewayId: string, at: number): string {
    return `${this.prefix}${hashTag('gw', gatewayId)}${MARKER_ROOT_INFIX}${markerHour(at)}`;
  }

  private ackedKey(gatewayId: string): string {
    return `${this.prefix}${hashTag('gw', gatewayId)}:acked`;
  }
}

/** The hour a message's packed marker is kept under: its time (epoch s) / 3600. */
function markerHour(at: number): number {
  return Math.floor(at / 3600);
}

/** A marker tree's expiry: its period is the hour. */
function markerPx(ttlMs: number): number {
  return packedTreePx(ttlMs, 3600_000);
}

/** Where an append for one gateway goes: see {@link RedisDeliveryQueue.placeOf}. */
export interface AppendPlace {
  stream: string;
  /** `<hour>:<dedup key>`, the message's hour (its time in s / 3600) and dedup key, as MARKER_PLACE_LUA takes them. */
  marker: string;
}

/** One gateway's share of a batched append: its keys and its arguments after the idle ttl, as queue-append-many takes them. */
interface GatewayAppend {
  keys: string[];
  args: Array<string | number>;
  count: number;
  /** When the call that sets the stream's expiry again (should it append) started; null: it leaves the expiry. */
  refreshedAt: number | null;
}

/** One gateway's retention bound, as the trim script takes it. */
interface GatewayTrim {
  key: string;
  maxItems: number;
  /** -1: no age bound. */
  maxAge: number;
}

function decodeItem(id: string, fields: string[]): QueuedItem | null {
  const index = fields.indexOf(EVENT_FIELD);
  const raw = index >= 0 && index % 2 === 0 ? fields[index + 1] : undefined;
  if (raw === undefined) return null;
  try {
    const event: unknown = JSON.parse(raw);
    if (!isQueuedEvent(event)) return null;
    return { id, event, enqueuedAt: streamIdMillis(id) };
  } catch {
    return null;
  }
}
