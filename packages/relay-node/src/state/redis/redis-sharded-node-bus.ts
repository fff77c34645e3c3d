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
}

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

  constructor(opts: RedisShardedNodeBusOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
    this.logger = opts.logger;
    this.connectionName = opts.connectionName;
  }

  async publish(nodeId: string, message: BusMessage): Promise<boolean> {
    const receivers = await this.redis.spublish(this.channel(nodeId), encodeBusMessage(message));
    return Number(receivers) > 0;
  }

  async subscribe(nodeId: string, handler: (message: BusMessage) => void): Promise<void> {
    if (this.closed) throw new RelayError('INTERNAL', 'node bus is closed');
    if (this.subscriber) throw new RelayError('INTERNAL', 'node bus already subscribed; use one bus per node');
    const channel = this.channel(nodeId);
    const sub = this.redis.duplicate([], {
      shardedSubscribers: true,
      redisOptions: { ...this.redis.options.redisOptions, ...(this.connectionName ? { connectionName: this.connectionName } : {}) },
    });
    this.subscriber = sub;
    sub.on('smessage', (from: string, raw: string) => {
      if (from === channel) this.dispatch(raw, handler);
    });
    sub.on('error', (err: Error) => this.logger.warn({ err, channel }, 'node bus subscriber connection error'));
    // The subscriber group reports a lost subscriber connection as '-node' with its node key (the Cluster's own
    // pool reports '-node' without one); it resubscribes on the shard's current master and says 'subscribersReady'.
    sub.on('-node', (_redis: unknown, nodeKey?: string) => {
      if (nodeKey === undefined) return;
      if (this.isLive()) this.logger.warn({ channel, nodeKey }, 'node bus subscriber disconnected');
      this.subscriberUp = false;
    });
    sub.on('-subscriber', () => {
      this.subscriberUp = false;
    });
    sub.on('subscribersReady', () => {
      if (this.closed || sub !== this.subscriber) return;
      if (!this.isLive() && this.subscribed) this.logger.info({ channel }, 'node bus subscription live');
      this.subscriberUp = true;
    });
    try {
      await sub.ssubscribe(channel);
    } catch (err) {
      this.subscriber = null;
      sub.disconnect();
      throw err;
    }
    this.subscribed = true;
    this.channels.add(channel);
    this.subscriberUp = true;
  }

  isLive(): boolean {
    return !this.closed && this.subscribed && this.subscriberUp && this.subscriber?.status === 'ready';
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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
