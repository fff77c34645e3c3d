import { setTimeout as sleep } from 'node:timers/promises';
import {
  GatewayClient,
  baseType,
  type InboundMessage,
  type WireDelivery,
  type WireDialect,
  type WireFrame,
} from '@wecom-relay/gateway-client';

/** How often arrivals are time-stamped; the client itself keeps no receive times. */
const ARRIVAL_POLL_MS = 50;

/** Who a gateway is and where it first connects. */
export interface ResilientGatewayOptions {
  gatewayId: string;
  authToken: string;
  url: string;
  dialect: WireDialect;
  /** `ack` (acknowledged delivery, dedup by delivery_id) or `legacy` (a deployed gateway that never acks). */
  delivery: WireDelivery;
  /** First pause before reconnecting; doubles per failed attempt up to maxBackoffMs. Default 100. */
  backoffMs?: number;
  /** Default 1000. */
  maxBackoffMs?: number;
}

/** One involuntary socket loss and how long the gateway was without service. */
export interface Outage {
  closedAt: number;
  closeCode: number;
  /** When a new socket's hello was acknowledged; null while still reconnecting. */
  reconnectedAt: number | null;
  /** When the first inbound frame after the loss arrived (necessarily on a later socket); null if none came yet. */
  servedAt: number | null;
}

/** How long the gateway waited to be served again after an outage; one not served yet counts until `now`. */
export function outageWaitMs(outage: Outage, now: number = Date.now()): number {
  return (outage.servedAt ?? now) - outage.closedAt;
}

/**
 * A gateway application as deployed ones behave: when its socket closes it reconnects (short back-off) to the
 * same URL, normally the balancer. It can also go offline on purpose and come back on another URL; each URL
 * gets its own client ("incarnation"), and what the application saw is read across all of them.
 */
export class ResilientGateway {
  readonly gatewayId: string;
  readonly dialect: WireDialect;
  readonly delivery: WireDelivery;
  /** Involuntary socket losses, in order. */
  readonly outages: Outage[] = [];
  private readonly incarnations: GatewayClient[] = [];
  private client: GatewayClient;
  private wantOnline = false;
  private stopped = false;
  /** When each received frame was first noticed (polled, so to within ARRIVAL_POLL_MS). */
  private readonly arrivals = new WeakMap<WireFrame, number>();
  private readonly stamped = new Map<GatewayClient, number>();
  private readonly arrivalTimer: NodeJS.Timeout;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(private readonly options: ResilientGatewayOptions) {
    this.gatewayId = options.gatewayId;
    this.dialect = options.dialect;
    this.delivery = options.delivery;
    this.backoffMs = options.backoffMs ?? 100;
    this.maxBackoffMs = options.maxBackoffMs ?? 1_000;
    this.client = this.newClient(options.url, undefined);
    this.arrivalTimer = setInterval(() => this.stampArrivals(), ARRIVAL_POLL_MS);
    this.arrivalTimer.unref();
  }

  /** Epoch ms when a frame (from appInbound()'s `raw`) arrived, to within the polling interval. */
  arrivalOf(frame: WireFrame): number | undefined {
    this.stampArrivals();
    return this.arrivals.get(frame);
  }

  /** The client of the current incarnation (for requests such as create_binding). */
  get current(): GatewayClient {
    return this.client;
  }

  /** True for gateways that acknowledge deliveries and drop redelivered ids. */
  get ackCapable(): boolean {
    return this.delivery === 'ack';
  }

  /** True while the current socket is open and authenticated. */
  get isConnected(): boolean {
    return this.client.isConnected;
  }

  /** Connects (retrying until `timeoutMs`) and keeps reconnecting whenever the socket closes. */
  async connect(timeoutMs = 30_000): Promise<void> {
    this.wantOnline = true;
    await this.connectWithRetry(this.client, timeoutMs);
    void this.supervise(this.client);
  }

  /** Leaves on purpose: `close` is a polite shutdown, `terminate` a crash (TCP cut, no close handshake). */
  async goOffline(how: 'close' | 'terminate'): Promise<void> {
    this.wantOnline = false;
    if (how === 'close') await this.client.close(1000, 'gateway going offline');
    else await this.client.terminate();
  }

  /**
   * Comes back on `url` as a new incarnation. An ack-mode gateway resumes after the last delivery id it saw, as
   * a real one that persists its position would.
   */
  async comeBack(url: string, timeoutMs = 30_000): Promise<void> {
    const lastDeliveryId = this.ackCapable
      ? this.appInbound()
          .map((m) => m.deliveryId)
          .filter((id): id is string => id !== undefined)
          .at(-1)
      : undefined;
    this.client = this.newClient(url, lastDeliveryId);
    await this.connect(timeoutMs);
  }

  /**
   * The inbound messages the application saw, in arrival order. An ack-mode gateway drops redeliveries by
   * delivery_id (the client does so per incarnation; this continues it across incarnations); a legacy one
   * passes everything on.
   */
  appInbound(): InboundMessage[] {
    const out: InboundMessage[] = [];
    const seen = new Set<string>();
    for (const client of this.incarnations) {
      for (const message of client.inbound()) {
        if (this.ackCapable && message.deliveryId !== undefined) {
          if (seen.has(message.deliveryId)) continue;
          seen.add(message.deliveryId);
        }
        out.push(message);
      }
    }
    return out;
  }

  /** Redeliveries the gateway itself dropped by delivery_id (ack mode only). */
  droppedRedeliveries(): number {
    let inClients = 0;
    let total = 0;
    for (const client of this.incarnations) {
      inClients += client.duplicates.length;
      total += client.inbound().length;
    }
    return inClients + (total - this.appInbound().length);
  }

  /** Every frame every incarnation received (for fuzz checks and diagnostics). */
  allFrames(): WireFrame[] {
    return this.incarnations.flatMap((c) => c.received);
  }

  /** Stops reconnecting and drops the socket. */
  async stop(): Promise<void> {
    clearInterval(this.arrivalTimer);
    this.stopped = true;
    this.wantOnline = false;
    await Promise.allSettled(this.incarnations.map((c) => c.terminate()));
  }

  private newClient(url: string, resumeAfter: string | undefined): GatewayClient {
    const client = new GatewayClient({
      url,
      gatewayId: this.options.gatewayId,
      authToken: this.options.authToken,
      dialect: this.options.dialect,
      delivery: this.options.delivery,
      ...(resumeAfter !== undefined ? { resumeAfter } : {}),
      timeoutMs: 10_000,
    });
    this.incarnations.push(client);
    return client;
  }

  private stampArrivals(): void {
    const now = Date.now();
    for (const client of this.incarnations) {
      const from = this.stamped.get(client) ?? 0;
      for (let i = from; i < client.received.length; i++) this.arrivals.set(client.received[i]!, now);
      this.stamped.set(client, client.received.length);
    }
  }

  private active(client: GatewayClient): boolean {
    return this.wantOnline && !this.stopped && this.client === client;
  }

  /** Retries connect() with back-off until it succeeds, the deadline passes or the gateway no longer wants to be online. */
  private async connectWithRetry(client: GatewayClient, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let delay = this.backoffMs;
    for (;;) {
      try {
        await client.connect();
        return;
      } catch (err) {
        if (Date.now() + delay > deadline || !this.active(client)) throw err;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, this.maxBackoffMs);
    }
  }

  /** Waits for each socket to close and reconnects, recording the outage, for as long as the gateway wants to be online. */
  private async supervise(client: GatewayClient): Promise<void> {
    while (this.active(client)) {
      const info = await client.closed;
      if (!this.active(client)) return;
      const outage: Outage = { closedAt: Date.now(), closeCode: info.code, reconnectedAt: null, servedAt: null };
      this.outages.push(outage);
      // Served again = the first inbound frame after the loss, whichever later socket brings it.
      client
        .waitFor((f) => baseType(f.type) === 'inbound', 120_000, client.received.length)
        .then(() => {
          outage.servedAt = Date.now();
        })
        .catch(() => undefined);
      await sleep(this.backoffMs);
      try {
        await this.connectWithRetry(client, Number.POSITIVE_INFINITY);
      } catch {
        return; // gave up because the gateway went offline or stopped meanwhile
      }
      outage.reconnectedAt = Date.now();
    }
  }
}
