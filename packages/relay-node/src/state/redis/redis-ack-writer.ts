import { RelayError } from '../../errors/relay-error.js';
import { LuaScript } from './lua-script.js';
import { isClusterClient, type RedisClient } from './redis-client.js';
import { compareStreamIds, notIssued } from './stream-id.js';

// Lua helper: compares canonical stream ids exactly (length first, then digits), since a
// sequence number may exceed what a Lua double holds exactly.
const COMPARE_IDS = `
local function cmpnum(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end
local function cmpid(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  local c = cmpnum(am, bm)
  if c ~= 0 then return c end
  return cmpnum(as, bs)
end
`;

// KEYS: per gateway its stream and acked pointer; ARGV: idle ttl (ms), then per gateway the id and the id read right
// before it ('' = not known). Returns per gateway 1 moved, 0 not forward, -1 never issued. The pointer is swapped in
// one step (SET GET) and put back when the ack turns out not to move it. Entries up to and including the id are
// deleted: by one XTRIM MINID of the id just after it once XRANGE found the id (so issued); an ack of the one entry
// right after the pointer deletes that entry alone, by XDEL (every entry up to the pointer went when the pointer was
// set, and the caller read none between). Only an id no longer there (trimmed, dropped as undecodable, or never
// issued) needs XINFO STREAM's last-generated-id, which is costly because it also builds the first and last entries.
const ACK = new LuaScript(
  'queue-ack',
  COMPARE_IDS +
    `
local function restore(pointer, acked)
  if acked then redis.call('SET', pointer, acked, 'PX', ARGV[1]) else redis.call('DEL', pointer) end
end
-- The id right after a stream id, where its sequence is exact as a Lua number (else nil).
local function id_after(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  if not ms or #seq > 15 then return nil end
  return ms .. '-' .. string.format('%.0f', tonumber(seq) + 1)
end
local function ack(stream, pointer, id, prev)
  local acked = redis.call('SET', pointer, id, 'PX', ARGV[1], 'GET')
  -- A pointer no relay wrote is replaced, rather than failing every ack of the gateway.
  if acked and not string.match(acked, '^%d+%-%d+$') then acked = false end
  if acked and cmpid(id, acked) <= 0 then
    restore(pointer, acked)
    return 0
  end
  local trim = prev == '' or acked ~= prev
  -- Only once the id is known to be there (so issued). XTRIM frees a stream node whose entries all fall below its
  -- bound and only marks entries in a node it cannot free; trimming to the id right after this one takes the id too,
  -- so a node ending at the id goes whole: one call, where a trim below the id and an XDEL of the id took two.
  if trim and #redis.call('XRANGE', stream, id, id) == 1 then
    local after = id_after(id)
    if after then
      redis.call('XTRIM', stream, 'MINID', '=', after)
      return 1
    end
    redis.call('XTRIM', stream, 'MINID', '=', id)
    trim = false
  end
  if redis.call('XDEL', stream, id) == 0 then
    local last = nil
    if redis.call('EXISTS', stream) == 1 then
      local info = redis.call('XINFO', 'STREAM', stream)
      for i = 1, #info, 2 do
        if info[i] == 'last-generated-id' then last = info[i + 1] end
      end
    end
    if not last or cmpid(id, last) > 0 then
      restore(pointer, acked)
      return -1
    end
  end
  if trim then redis.call('XTRIM', stream, 'MINID', '=', id) end
  return 1
end
local out = {}
for g = 1, #KEYS / 2 do
  out[g] = ack(KEYS[g * 2 - 1], KEYS[g * 2], ARGV[g * 2], ARGV[g * 2 + 1])
end
return out
`,
);

// Most gateways one ack script call writes at once (one server only).
const MAX_ACK_BATCH = 200;

/** What {@link RedisAckWriter} needs of its queue. */
export interface RedisAckWriterOptions {
  redis: RedisClient;
  /** How long a gateway's acked pointer lives without a new ack (ms, as Redis takes it). */
  idleTtlPx: number;
  /** A gateway's stream and acked-pointer keys. */
  keysOf: (gatewayId: string) => [stream: string, pointer: string];
}

/**
 * Writes the acked pointers of a node's gateways. An ack-mode gateway confirms every event, so acks are the most
 * frequent write after appends: each gateway's are coalesced to its highest id, and on one server the gateways waiting
 * while a write is in flight go together in the next script call.
 */
export class RedisAckWriter {
  // Gateways with acks waiting or being written; an entry goes as soon as its gateway has none left.
  private readonly ackLanes = new Map<string, AckLane>();
  // Gateways whose waiting acks can be written (none of theirs in flight), in arrival order.
  private readonly ackReady = new Set<string>();
  // One server: an ack script call is in flight, so acks arriving now wait to go together in the next.
  private ackWriting = false;
  // One server: a write is due at the end of this turn of the event loop, with every ack read in the turn.
  private ackGathering = false;

  // On a Redis Cluster each gateway's pointer sits in its own slot: no two share a script call.
  private readonly cluster: boolean;

  constructor(private readonly o: RedisAckWriterOptions) {
    this.cluster = isClusterClient(o.redis);
  }

  /**
   * Acks are coalesced: while a write for a gateway is in flight, its later acks wait, and the next write carries only
   * the highest of their ids (the pointer is cumulative, so it covers the others). On one server, the gateways whose
   * acks came in the same turn of the event loop, or while a write was in flight, are written together by the next
   * script call. Each caller resolves once a pointer at or past its id is stored.
   */
  async ack(gatewayId: string, id: string, prev?: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      let lane = this.ackLanes.get(gatewayId);
      if (!lane) {
        lane = { waiting: [], busy: false };
        this.ackLanes.set(gatewayId, lane);
      }
      lane.waiting.push({ id, prev, resolve, reject });
      if (!lane.busy) this.ackReady.add(gatewayId);
      if (this.cluster) this.pumpAcks();
      else this.gatherAcks();
    });
  }

  /**
   * On one server, an ack that finds no write in flight goes at the end of this turn of the event loop (setImmediate,
   * after every socket read the turn has), so the acks of gateways whose frames arrived together share one script call
   * rather than the first going alone.
   */
  private gatherAcks(): void {
    if (this.ackGathering || this.ackWriting) return;
    this.ackGathering = true;
    setImmediate(() => {
      this.ackGathering = false;
      this.pumpAcks();
    });
  }

  /** Starts the writes of the gateways with acks waiting: each at once on a cluster, together after the one in flight on one server. */
  private pumpAcks(): void {
    const cluster = this.cluster;
    while (this.ackReady.size > 0 && (cluster || !this.ackWriting)) {
      const gatewayIds: string[] = [];
      for (const g of this.ackReady) {
        gatewayIds.push(g);
        this.ackReady.delete(g);
        if (cluster || gatewayIds.length >= MAX_ACK_BATCH) break;
      }
      this.ackWriting = !cluster;
      void this.writeAcks(gatewayIds).finally(() => {
        if (!cluster) this.ackWriting = false;
        this.pumpAcks();
      });
    }
  }

  /** Writes the highest waiting id of each gateway in one script call, settles its callers and releases its lane. */
  private async writeAcks(gatewayIds: readonly string[]): Promise<void> {
    const batches = gatewayIds.map((gatewayId) => {
      const lane = this.ackLanes.get(gatewayId)!;
      lane.busy = true;
      const waiting = lane.waiting.splice(0);
      const top = waiting.reduce((max, w) => (compareStreamIds(w.id, max) > 0 ? w.id : max), waiting[0]!.id);
      // The id read before the top one counts only when the top one is all that is acked.
      const prev = waiting.every((w) => w.id === top) ? waiting.find((w) => w.prev !== undefined)?.prev : undefined;
      return { gatewayId, lane, waiting, top, prev };
    });
    let results: unknown[] | null = null;
    try {
      results = await this.runAck(batches.map((b) => [b.gatewayId, b.top, b.prev] as const));
    } catch (err) {
      // Each gateway on its own below, so one that cannot be written fails its own callers only.
      if (batches.length === 1) for (const w of batches[0]!.waiting) w.reject(err);
    }
    for (const [i, { gatewayId, lane, waiting, top, prev }] of batches.entries()) {
      if (results === null && batches.length > 1) await this.settleAlone(gatewayId, waiting, top, prev);
      else if (results !== null) await this.settle(gatewayId, waiting, top, results[i]);
      lane.busy = false;
      if (lane.waiting.length > 0) this.ackReady.add(gatewayId);
      else this.ackLanes.delete(gatewayId);
    }
  }

  private async settleAlone(gatewayId: string, waiting: readonly AckWaiter[], top: string, prev: string | undefined): Promise<void> {
    try {
      const [result] = await this.runAck([[gatewayId, top, prev]]);
      await this.settle(gatewayId, waiting, top, result);
    } catch (err) {
      for (const w of waiting) w.reject(err);
    }
  }

  private async settle(gatewayId: string, waiting: readonly AckWaiter[], top: string, result: unknown): Promise<void> {
    if (result !== -1) {
      for (const w of waiting) w.resolve();
    } else if (waiting.every((w) => w.id === top)) {
      for (const w of waiting) w.reject(notIssued(top));
    } else {
      // The highest id was never issued: each id on its own, so that id cannot fail the good ones.
      const ids = [...new Set(waiting.map((w) => w.id))].sort(compareStreamIds);
      for (const id of ids) {
        const callers = waiting.filter((w) => w.id === id);
        try {
          const [each] = await this.runAck([[gatewayId, id]]);
          for (const w of callers) {
            if (each === -1) w.reject(notIssued(id));
            else w.resolve();
          }
        } catch (err) {
          for (const w of callers) w.reject(err);
        }
      }
    }
  }

  private async runAck(acks: ReadonlyArray<readonly [gatewayId: string, id: string, prev?: string]>): Promise<unknown[]> {
    const keys: string[] = [];
    const args: Array<string | number> = [this.o.idleTtlPx];
    for (const [gatewayId, id, prev] of acks) {
      keys.push(...this.o.keysOf(gatewayId));
      args.push(id, prev ?? '');
    }
    const results = await ACK.run(this.o.redis, keys, args);
    if (!Array.isArray(results) || results.length !== acks.length) throw new RelayError('INTERNAL', 'ack script returned no results');
    return results;
  }
}

/** A caller of ack waiting for a pointer at or past its id. */
interface AckWaiter {
  id: string;
  /** The id its caller read right before `id`, when known. */
  prev: string | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One gateway's acks: the callers not yet written (written next as one), and whether a write of its is in flight. */
interface AckLane {
  waiting: AckWaiter[];
  busy: boolean;
}

