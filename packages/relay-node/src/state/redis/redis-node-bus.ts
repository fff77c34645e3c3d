import type { Redis } from 'ioredis';
import { RelayError } from '../../errors/relay-error.js';
import type { BusMessage, NodeBus } from '../node-bus.js';
import { decodeBusMessage, encodeBusMessage } from './bus-message-codec.js';
import { checkPrefix } from './keyspace.js';
import type { StateLogger } from './state-logger.js';
import { RedisHealthProbe } from './redis-health-probe.js';

/** Delay before a subscription confirmation that failed is tried again on the same connection. */
const CONFIRM_RETRY_MS = 1_000;

/** Construction options for {@link RedisNodeBus}. */
export interface RedisNodeBusOptions {
  /** Publishes on this client; subscribe() duplicates it for the subscriber connection. Never closed here. */
  redis: Redis;
  /** Key (channel) prefix; default 'wr:'. */
  prefix?: string;
  logger: StateLogger;
  /**
   * When set, the subscriber connection is PINGed too: the bus counts as live only while it answers, and a
   * subscriber silent for `reconnectAfterMs` is reconnected (ioredis subscribes again on the new connection).
   */
  health?: { pingIntervalMs: number; staleAfterMs: number; reconnectAfterMs: number };
  /** CLIENT SETNAME of the subscriber connection (the publishing client keeps its own). */
  connectionName?: string;
}

/**
 * Node-to-node signals over Redis pub/sub, one channel per node. The subscriber is a connection of its
 * own (a subscribed connection can run nothing else); ioredis resubscribes after reconnecting, and this
 * class re-confirms the subscription on every 'ready' so isLive() is only true once it really holds.
 */
export class RedisNodeBus implements NodeBus {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly logger: StateLogger;
  private readonly connectionName: string | undefined;
  private subscriber: Redis | null = null;
  private probe: RedisHealthProbe | null = null;
  private readonly health: RedisNodeBusOptions['health'];
  private live = false;
  private closed = false;
  // Bumped on every disconnect so a confirmation that raced a later disconnect is ignored.
  private connectionEpoch = 0;

  constructor(opts: RedisNodeBusOptions) {
    this.redis = opts.redis;
    this.prefix = checkPrefix(opts.prefix);
    this.logger = opts.logger;
    this.health = opts.health;
    this.connectionName = opts.connectionName;
  }

  async publish(nodeId: string, message: BusMessage): Promise<boolean> {
    const receivers = await this.redis.publish(this.channel(nodeId), encodeBusMessage(message));
    return receivers > 0;
  }

  async subscribe(nodeId: string, handler: (message: BusMessage) => void): Promise<void> {
    if (this.closed) throw new RelayError('INTERNAL', 'node bus is closed');
    if (this.subscriber) throw new RelayError('INTERNAL', 'node bus already subscribed; use one bus per node');
    const channel = this.channel(nodeId);
    const sub = this.redis.duplicate(this.connectionName ? { connectionName: this.connectionName } : undefined);
    this.subscriber = sub;

    sub.on('message', (from: string, raw: string) => {
      if (from === channel) this.dispatch(raw, handler);
    });
    sub.on('error', (err: Error) => this.logger.warn({ err, channel }, 'node bus subscriber connection error'));
    sub.on('close', () => {
      this.connectionEpoch += 1;
      if (this.live) this.logger.warn({ channel }, 'node bus subscriber disconnected');
      this.live = false;
    });
    sub.on('ready', () => this.confirm(sub, channel));

    try {
      await sub.subscribe(channel);
    } catch (err) {
      this.subscriber = null;
      sub.disconnect();
      throw err;
    }
    if (sub.status === 'ready' && !this.closed) this.live = true;
    if (this.health && !this.closed) {
      this.probe = new RedisHealthProbe({
        redis: sub,
        intervalMs: this.health.pingIntervalMs,
        staleAfterMs: this.health.staleAfterMs,
        reconnectAfterMs: this.health.reconnectAfterMs,
        connection: 'subscriber',
        logger: this.logger,
      });
      this.probe.start();
    }
  }

  isLive(): boolean {
    return this.live && !this.closed && (this.probe?.isAnswering() ?? true);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.live = false;
    this.probe?.stop();
    this.probe = null;
    const sub = this.subscriber;
    this.subscriber = null;
    if (!sub) return;
    sub.removeAllListeners('message');
    if (sub.status === 'ready') {
      // The UNSUBSCRIBE reply proves the server dropped the channel, so a publish right after close()
      // reports nobody listening. A connection lost meanwhile ends the wait instead of the offline queue.
      const lost = new Promise<void>((resolve) => sub.once('close', () => resolve()));
      await Promise.race([sub.unsubscribe().catch(() => undefined), lost]);
    }
    sub.disconnect();
  }

  /** Subscribing again is harmless; its reply proves the (re)subscription is in place. */
  private confirm(sub: Redis, channel: string): void {
    if (this.closed || sub !== this.subscriber) return;
    const epoch = this.connectionEpoch;
    sub.subscribe(channel).then(
      () => {
        if (this.closed || sub !== this.subscriber || epoch !== this.connectionEpoch || sub.status !== 'ready') return;
        if (!this.live) this.logger.info({ channel }, 'node bus subscription live');
        this.live = true;
      },
      (err: unknown) => {
        this.logger.warn({ err, channel }, 'node bus could not confirm its subscription; trying again');
        // A command timeout (a server that stalled right after reconnecting) would otherwise leave the bus
        // unconfirmed, and the node unready, until the next reconnect.
        const retry = setTimeout(() => {
          if (epoch === this.connectionEpoch && sub.status === 'ready') this.confirm(sub, channel);
        }, CONFIRM_RETRY_MS);
        retry.unref();
      },
    );
  }

  private dispatch(raw: string, handler: (message: BusMessage) => void): void {
    const message = decodeBusMessage(raw);
    if (!message) {
      this.logger.warn({ bytes: raw.length }, 'node bus dropped a malformed message');
      return;
    }
    try {
      // A handler typed as returning void may still be async; its rejection must not go unhandled.
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
