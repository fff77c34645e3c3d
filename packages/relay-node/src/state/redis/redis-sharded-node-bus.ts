import type { Cluster } from 'ioredis';
import { RelayError } from '../../errors/relay-error.js';
import type { BusMessage, NodeBus } from '../node-bus.js';
import { decodeBusMessage, encodeBusMessage } from './bus-message-codec.js';
import { checkPrefix } from './keyspace.js';
import type { StateLogger } from './state-logger.js';

/** Construction options for {@link RedisShardedNodeBus}. */
export interface RedisShardedNodeBusOptions {
  /** Publishes on this Cluster client; subscribe() duplicates it with sharded subscribers. Never closed here. */
  redis: Cluster;
  /** Channel prefix; default 'wr:'. */
  prefix?: string;
  logger: StateLogger;
  /** CLIENT SETNAME of the subscriber connections. */
  connectionName?: string;
  /**
   * When set, the subscription is probed end to end: every `pingIntervalMs` a probe travels by SPUBLISH to the
   * node's own channel and must come back on the subscriber; the bus counts as live only while the last echo is
   * younger than `staleAfterMs`, and a subscriber that echoes nothing for `reconnectAfterMs` while probes are
   * published is replaced by a fresh one. This is the sharded bus's equivalent of RedisNodeBus' subscriber PING:
   * ioredis keeps its per-shard subscriber connections to itself, so the probe goes through them instead.
   */
  health?: { pingIntervalMs: number; staleAfterMs: number; reconnectAfterMs: number };
  now?: () => number;
}

/** Raw payloads with this start are the bus' own probes: never JSON, so no message can be mistaken for one. */
const PROBE_PREFIX = '#probe ';

/**
 * Node-to-node signals on a Redis Cluster over sharded pub/sub (SSUBSCRIBE/SPUBLISH, Redis 7): a node's channel
 * hashes to one slot and a message travels only within the shard serving it, instead of being broadcast over the
 * cluster bus to every node as plain PUBLISH is. The subscriber is a Cluster of its own with one subscriber
 * connection per master; ioredis moves the subscription when the slot's master changes (failover, resharding).
 * isLive() drops while a subscriber connection is lost and comes back once ioredis has subscribed again.
 */
export class RedisShardedNodeBus implements NodeBus {
  private readonly redis: Cluster;
  private readonly prefix: string;
  private readonly logger: StateLogger;
  private readonly connectionName: string | undefined;
  private subscriber: Cluster | null = null;
  private subscribed = false;
  private subscriberUp = false;
  private closed = false;
  private readonly channels = new Set<string>();
  private readonly health: RedisShardedNodeBusOptions['health'];
  private readonly now: () => number;
  private probeTimer: NodeJS.Timeout | null = null;
  private probeInFlight = false;
  private replacing = false;
  private lastEchoAt: number | null = null;
  private lastProbeSentAt: number | null = null;
  private subscribedAt = 0;
  private lastReplacedAt: number | null = null;
  private echoing = false;

  constructor(opts: RedisShardedNodeBusOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
    this.logger = opts.logger;
    this.connectionName = opts.connectionName;
    this.health = opts.health;
    this.now = opts.now ?? Date.now;
  }

  async publish(nodeId: string, message: BusMessage): Promise<boolean> {
    const receivers = await this.redis.spublish(this.channel(nodeId), encodeBusMessage(message));
    return Number(receivers) > 0;
  }

  async subscribe(nodeId: string, handler: (message: BusMessage) => void): Promise<void> {
    if (this.closed) throw new RelayError('INTERNAL', 'node bus is closed');
    if (this.subscriber || this.subscribed) throw new RelayError('INTERNAL', 'node bus already subscribed; use one bus per node');
    const channel = this.channel(nodeId);
    this.subscribed = true;
    try {
      this.subscriber = await this.open(channel, handler);
    } catch (err) {
      this.subscribed = false;
      throw err;
    }
    if (this.closed) {
      // close() ran while subscribing and found nothing to close.
      this.subscriber.disconnect();
      this.subscriber = null;
      return;
    }
    this.channels.add(channel);
    this.subscriberUp = true;
    this.subscribedAt = this.now();
    if (this.health && !this.closed) {
      const health = this.health;
      this.probeTimer = setInterval(() => this.probe(channel, handler, health), health.pingIntervalMs);
      this.probeTimer.unref();
      this.probe(channel, handler, health);
    }
  }

  /** A subscriber Cluster of its own, subscribed to `channel`; events of a replaced one are ignored. */
  private async open(channel: string, handler: (message: BusMessage) => void): Promise<Cluster> {
    const sub = this.redis.duplicate([], {
      shardedSubscribers: true,
      // Unbatched: a batched SSUBSCRIBE goes out on a node's command connection, outside the subscriber group that
      // follows the channel's shard (and resubscribes after a failover).
      enableAutoPipelining: false,
      redisOptions: { ...this.redis.options.redisOptions, ...(this.connectionName ? { connectionName: this.connectionName } : {}) },
    });
    sub.on('smessage', (from: string, raw: string) => {
      if (from !== channel) return;
      if (raw.startsWith(PROBE_PREFIX)) this.lastEchoAt = this.now();
      else this.dispatch(raw, handler);
    });
    sub.on('error', (err: Error) => this.logger.warn({ err, channel }, 'node bus subscriber connection error'));
    // The subscriber group reports a lost subscriber connection as '-node' with its node key (the Cluster's own
    // pool reports '-node' without one); it resubscribes on the shard's current master and says 'subscribersReady'.
    sub.on('-node', (_redis: unknown, nodeKey?: string) => {
      if (nodeKey === undefined || sub !== this.subscriber) return;
      if (this.isLive()) this.logger.warn({ channel, nodeKey }, 'node bus subscriber disconnected');
      this.subscriberUp = false;
    });
    sub.on('-subscriber', () => {
      if (sub === this.subscriber) this.subscriberUp = false;
    });
    sub.on('subscribersReady', () => {
      if (this.closed || sub !== this.subscriber) return;
      if (!this.isLive() && this.subscribed) this.logger.info({ channel }, 'node bus subscription live');
      this.subscriberUp = true;
    });
    try {
      await sub.ssubscribe(channel);
    } catch (err) {
      sub.disconnect();
      throw err;
    }
    return sub;
  }

  /** Publishes one probe (one at a time) and replaces a subscriber that has echoed nothing for too long. */
  private probe(channel: string, handler: (message: BusMessage) => void, health: NonNullable<RedisShardedNodeBusOptions['health']>): void {
    if (this.closed || !this.subscriber) return;
    const answering = this.lastEchoAt !== null && this.now() - this.lastEchoAt <= health.staleAfterMs;
    if (answering !== this.echoing && this.lastEchoAt !== null) {
      this.echoing = answering;
      if (answering) this.logger.info({ channel }, 'node bus subscriber echoes probes again');
      else this.logger.warn({ channel, lastEchoMsAgo: this.now() - this.lastEchoAt }, 'node bus subscriber does not echo probes');
    }
    // Probes reached Redis long after the last echo: the subscription is silent, not Redis. (While Redis itself
    // does not answer, nothing is published and nothing is replaced; the node is unready by the command probe.)
    const since = this.lastEchoAt ?? this.subscribedAt;
    const now = this.now();
    if (
      !this.replacing &&
      this.lastProbeSentAt !== null &&
      this.lastProbeSentAt - since > health.reconnectAfterMs &&
      (this.lastReplacedAt === null || now - this.lastReplacedAt > health.reconnectAfterMs)
    ) {
      this.lastReplacedAt = now;
      this.replace(channel, handler);
    }
    if (this.probeInFlight) return;
    this.probeInFlight = true;
    this.redis
      .spublish(channel, `${PROBE_PREFIX}${now}`)
      .then(
        () => {
          this.lastProbeSentAt = this.now();
        },
        () => undefined, // the age of the last echo says it all
      )
      .finally(() => {
        this.probeInFlight = false;
      });
  }

  private replace(channel: string, handler: (message: BusMessage) => void): void {
    this.replacing = true;
    this.logger.warn({ channel }, 'node bus subscriber has echoed nothing for too long; subscribing again');
    this.open(channel, handler)
      .then(
        (fresh) => {
          const old = this.subscriber;
          if (this.closed || !old) {
            fresh.disconnect();
            return;
          }
          this.subscriber = fresh;
          this.subscriberUp = true;
          old.removeAllListeners('smessage');
          old.disconnect();
        },
        (err: unknown) => this.logger.warn({ err, channel }, 'node bus could not subscribe again; trying later'),
      )
      .finally(() => {
        this.replacing = false;
      });
  }

  isLive(): boolean {
    const echoed = !this.health || (this.lastEchoAt !== null && this.now() - this.lastEchoAt <= this.health.staleAfterMs);
    return !this.closed && this.subscribed && this.subscriberUp && this.subscriber?.status === 'ready' && echoed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
    const sub = this.subscriber;
    this.subscriber = null;
    if (!sub) return;
    sub.removeAllListeners('smessage');
    if (this.subscribed && sub.status === 'ready') {
      // The SUNSUBSCRIBE reply proves the shard dropped the channel, so a publish right after close() reports
      // nobody listening. A connection lost meanwhile ends the wait.
      const lost = new Promise<void>((resolve) => sub.once('close', () => resolve()));
      const channels = [...this.channels];
      await Promise.race([sub.sunsubscribe(...channels).catch(() => undefined), lost]);
    }
    sub.disconnect();
  }

  private dispatch(raw: string, handler: (message: BusMessage) => void): void {
    const message = decodeBusMessage(raw);
    if (!message) {
      this.logger.warn({ bytes: raw.length }, 'node bus dropped a malformed message');
      return;
    }
    try {
      const result: unknown = handler(message);
      if (result instanceof Promise) {
        result.catch((err: unknown) => this.logger.error({ err, kind: message.kind }, 'node bus handler failed'));
      }
    } catch (err) {
      this.logger.error({ err, kind: message.kind }, 'node bus handler failed');
    }
  }

  private channel(nodeId: string): string {
    return `${this.prefix}bus:${nodeId}`;
  }
}
