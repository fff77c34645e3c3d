import type { Logger } from 'pino';
import type { RelayConfig } from './config/relay-config.js';
import { createMetrics, type RelayMetrics } from './observability/metrics.js';
import type { StateBackend } from './state/state-backend.js';
import { createWecomApis, type WecomApis } from './app/wecom-apis.js';
import { BindingService } from './binding/binding-service.js';
import { ReplyService } from './outbound/reply-service.js';
import { DeliveryService } from './delivery/delivery-service.js';
import { MediaInliner } from './delivery/media-inliner.js';
import { createMediaLinkHandler } from './media/media-link-route.js';
import { MediaLinkSigner } from './media/media-link-signer.js';
import { InboundDispatcher } from './inbound/inbound-dispatcher.js';
import { PageRouter } from './inbound/page-router.js';
import { BatchEnqueuer } from './delivery/enqueue-batch.js';
import { CustomerProfileCache } from './delivery/customer-profiles.js';
import { RichSendService } from './outbound/rich-send.js';
import { SessionEventRouter } from './inbound/session-event-router.js';
import { SyncLoop } from './inbound/sync-loop.js';
import { LeaseSpread } from './inbound/lease-spread.js';
import { RelayGatewayApp } from './app/relay-gateway-app.js';
import { createGatewayAuthenticator } from './app/gateway-authenticator.js';
import { GatewayServer } from './gateway/gateway-server.js';
import { SendBudget } from './gateway/send-budget.js';
import { RelayHttpServer } from './http/http-server.js';
import { MetricsServer } from './http/metrics-server.js';
import { createWebhookHandler } from './http/webhook-handler.js';
import { ERROR_CATALOG } from './errors/error-catalog.js';
import { Semaphore } from './util/semaphore.js';
import { closeCodeLabel } from './observability/operator-metrics.js';
import { createControlMetrics, type ControlMetrics } from './observability/control-metrics.js';
import { RotatingCallbackCrypto } from './http/rotating-callback-crypto.js';
import { AdminServer } from './admin/admin-server.js';
import { AdminOperations } from './admin/admin-operations.js';
import { Rebalancer } from './delivery/rebalancer.js';

/** Lifecycle of a node; changed only by {@link RelayNode.setStatus}. */
export type RelayNodeStatus = 'created' | 'starting' | 'running' | 'draining' | 'closing' | 'closed';

/** Collaborators a node is given rather than creating itself. */
export interface RelayNodeDeps {
  config: RelayConfig;
  logger: Logger;
  backend: StateBackend;
  metrics?: RelayMetrics;
  /** Overrides for tests: WeCom clients built elsewhere. */
  wecom?: WecomApis;
  /**
   * Called when an operator asks this node to drain (admin API, directly or over the bus); the process entry point
   * drains and exits. Default: {@link RelayNode.drain}.
   */
  onDrainRequested?: (by: string) => void;
}

/**
 * One relay node: WeCom's webhook in, the sync loop, delivery to gateway sockets, replies out. Stateless
 * itself; everything shared sits in the backend, so any number of nodes can run side by side.
 */
export class RelayNode {
  readonly metrics: RelayMetrics;
  /** Rotation, admin and rebalancing metrics, on the same registry. */
  readonly controlMetrics: ControlMetrics;
  private status: RelayNodeStatus = 'created';
  private readonly http: RelayHttpServer;
  private readonly metricsServer: MetricsServer;
  private readonly gateways: GatewayServer;
  private readonly delivery: DeliveryService;
  /** One pull loop per kf account (WECOM_OPEN_KFID), each with its own cursor, lease and pending mark. */
  private readonly syncs: ReadonlyMap<string, SyncLoop>;
  private readonly admin: AdminServer | null;
  private readonly rebalancer: Rebalancer;
  private closing: Promise<void> | null = null;

  constructor(private readonly deps: RelayNodeDeps) {
    const { config, logger, backend } = deps;
    const metrics = (this.metrics = deps.metrics ?? createMetrics(config.nodeId));
    const controlMetrics = (this.controlMetrics = createControlMetrics(metrics.registry));
    const wecom = deps.wecom ?? createWecomApis({ config, logger, metrics, tokenStore: backend.accessTokens });
    // One bound for every media transfer (inbound downloads, reply uploads), so a burst of large images cannot
    // hold more than a few buffers at once.
    const transfers = new Semaphore(config.limits.mediaConcurrency);
    // One budget for what slow gateways make the node hold: frames in their sockets and media fetched for them.
    const sendBudget = new SendBudget({ totalBytes: config.gateway.sendBudgetBytes, graceMs: config.gateway.slowGatewayGraceMs });
    metrics.observeSendBudget(() => sendBudget.usedBytes);
    const mediaLinks = new MediaLinkSigner({ ...config.mediaLinks, now: () => Date.now() });
    const media = new MediaInliner({
      source: wecom.media,
      maxBytes: config.limits.mediaMaxBytes,
      transfers,
      logger,
      budget: sendBudget,
      links: mediaLinks,
    });
    const profiles = new CustomerProfileCache({
      fetch: (ids) => wecom.kf.batchGetCustomers(ids),
      logger: logger.child({ component: 'profiles' }),
    });
    this.delivery = new DeliveryService({
      profiles,
      nodeId: config.nodeId,
      queue: backend.queue,
      presence: backend.presence,
      bus: backend.bus,
      media,
      logger: logger.child({ component: 'delivery' }),
      metrics,
      retention: config.queue,
      sweepCallsPerSecond: config.deliverySweepCallsPerSecond,
      onControl: (message) => {
        if (message.kind === 'drain') this.requestDrain(message.by);
      },
    });
    const binding = new BindingService({
      bindings: backend.bindings,
      pending: backend.pendingBindings,
      ledger: backend.outbound,
      dedup: backend.dedup,
      wecom: wecom.kf,
      delivery: this.delivery,
      openKfid: config.wecom.openKfid,
      openKfids: config.wecom.openKfids,
      locale: config.locale,
      logger: logger.child({ component: 'binding' }),
      metrics,
      limits: config.binding,
    });
    const dispatcher = new InboundDispatcher({
      bindings: backend.bindings,
      ledger: backend.outbound,
      binding,
      delivery: this.delivery,
      dedup: backend.dedup,
      logger: logger.child({ component: 'inbound' }),
      metrics,
      firstPullMaxAgeMs: config.sync.firstPullMaxAgeMs,
      tagAccount: config.wecom.openKfids.length > 1,
      sessionEvents: new SessionEventRouter({
        bindings: backend.bindings,
        delivery: this.delivery,
        logger: logger.child({ component: 'session-events' }),
      }),
    });
    const pages = new PageRouter({
      dispatcher,
      bindings: backend.bindings,
      ledger: backend.outbound,
      dedup: backend.dedup,
      ...(backend.routeAppender ? { appender: backend.routeAppender } : {}),
      enqueuer: new BatchEnqueuer({
        nodeId: config.nodeId,
        queue: backend.queue,
        presence: backend.presence,
        bus: backend.bus,
        delivery: this.delivery,
        metrics,
      }),
      logger: logger.child({ component: 'inbound' }),
      metrics,
      firstPullMaxAgeMs: config.sync.firstPullMaxAgeMs,
      tagAccount: config.wecom.openKfids.length > 1,
    });
    const spread = new LeaseSpread(config.sync.leaseSpreadMs);
    this.syncs = new Map(
      config.wecom.openKfids.map((openKfid) => [
        openKfid,
        new SyncLoop({
          openKfid,
          source: wecom.kf,
          coordinator: backend.sync,
          sink: (message, ctx) => dispatcher.dispatch(message, ctx),
          pageSink: (messages, ctx) => pages.route(messages, ctx),
          logger: logger.child({ component: 'sync', openKfid }),
          metrics,
          pollIntervalMs: config.sync.pollIntervalMs,
          voiceFormat: config.sync.voiceFormat === 'silk' ? 1 : 0,
          spread,
          coalesceMs: config.sync.coalesceMs,
        }),
      ]),
    );
    const authenticate = createGatewayAuthenticator({ ...config.auth, previousSecret: config.previous.authSecret }, logger.child({ component: 'auth' }), (hello, used) => {
      controlMetrics.gatewayAuths.inc({ secret: used.secret, mode: used.mode });
      // Field names avoid the redacted ones (secret, token): this says which, never what.
      const fields = { gatewayId: hello.gatewayId, credential: used.secret, mode: used.mode };
      if (used.secret === 'previous') logger.info(fields, 'gateway authenticated with the previous RELAY_AUTH_SECRET');
      else logger.debug(fields, 'gateway authenticated');
    });
    const replies = new ReplyService({
      bindings: backend.bindings,
      ledger: backend.outbound,
      records: backend.replies,
      nodeId: config.nodeId,
      rateLimit: { perSecond: config.replies.ratePerSecond, burst: config.replies.burst },
      wecom: {
        sendText: (req) => wecom.kf.sendText(req),
        sendImage: (req) => wecom.kf.sendImage(req),
        upload: (type, data, filename, mime) => wecom.media.upload(type, data, filename, mime),
      },
      transfers,
      openKfid: config.wecom.openKfid,
      openKfids: config.wecom.openKfids,
      logger: logger.child({ component: 'reply' }),
      metrics,
    });
    const app = new RelayGatewayApp({
      authenticate: async (hello) => {
        await authenticate(hello);
      },
      bindings: backend.bindings,
      binding,
      replies,
      delivery: this.delivery,
      logger: logger.child({ component: 'gateway' }),
      profiles,
      richSend: new RichSendService({
        replies,
        ledger: backend.outbound,
        transfers,
        mediaUrls: config.mediaUrls,
        wecom: {
          sendMessage: (req) => wecom.kf.sendMessage(req),
          sendMessageOnEvent: (req) => wecom.kf.sendMessageOnEvent(req),
          upload: (type, data, filename, mime) => wecom.media.upload(type, data, filename, mime),
          recallMsg: (req) => wecom.kf.recallMsg(req),
          getServiceState: (req) => wecom.kf.getServiceState(req),
          transServiceState: (req) => wecom.kf.transServiceState(req),
        },
      }),
    });
    this.gateways = new GatewayServer({
      port: config.wsPort,
      host: config.host,
      app,
      logger: logger.child({ component: 'gateway' }),
      helloTimeoutMs: config.gateway.helloTimeoutMs,
      pingIntervalMs: config.gateway.pingIntervalMs,
      pongTimeoutMs: config.gateway.pongTimeoutMs,
      maxPendingSocketsPerAddress: config.gateway.maxPendingSocketsPerAddress,
      trustedProxies: config.gateway.trustedProxies,
      maxPendingSockets: config.gateway.maxPendingSockets,
      maxHelloBytes: config.gateway.maxHelloBytes,
      maxPendingBytes: config.gateway.maxPendingBytes,
      sendBudget,
      observer: {
        connected: () => undefined, // the delivery service keeps the gauge, counting only attached gateways
        frameError: (code) => metrics.frameErrors.inc({ code }),
        framesIn: (type) => metrics.gatewayFrames.inc({ direction: 'in', type }),
        framesOut: (type) => metrics.gatewayFrames.inc({ direction: 'out', type }),
        closed: (code) => metrics.gatewayCloses.inc({ code: closeCodeLabel(code) }),
        socketRefused: (reason) => metrics.socketsRefused.inc({ reason }),
        slowClosed: (reason) => metrics.slowGatewaysClosed.inc({ reason }),
      },
    });
    this.metricsServer = new MetricsServer({
      host: config.metrics.host,
      port: config.metrics.port,
      registry: metrics.registry,
      token: config.metrics.token,
      logger: logger.child({ component: 'metrics' }),
      limits: config.http,
    });
    this.http = new RelayHttpServer({
      host: config.host,
      port: config.httpPort,
      limits: config.http,
      logger: logger.child({ component: 'http' }),
      webhook: createWebhookHandler({
        crypto: new RotatingCallbackCrypto(
          {
            token: config.wecom.token,
            encodingAesKey: config.wecom.encodingAesKey,
            receiveId: config.wecom.corpId,
            previousToken: config.previous.wecomToken,
            previousEncodingAesKey: config.previous.wecomEncodingAesKey,
          },
          (use) => {
            controlMetrics.webhookCredentials.inc({ token: use.token, aes_key: use.aesKey });
            if (use.token === 'previous' || use.aesKey === 'previous') {
              logger.info({ callbackToken: use.token, callbackAesKey: use.aesKey }, 'callback verified with a previous WeCom credential');
            }
          },
        ),
        openKfids: config.wecom.openKfids,
        maxBodyBytes: config.limits.maxWebhookBytes,
        onKfCallback: (openKfid, token) => this.notifySync(openKfid, token),
        logger: logger.child({ component: 'webhook' }),
        metrics,
        deadlineMs: config.webhook.deadlineMs,
        replayWindowMs: config.webhook.replayWindowMs,
        seenCacheSize: config.webhook.seenCacheSize,
        refusalLogIntervalMs: config.refusalLogIntervalMs,
        trustedProxies: config.gateway.trustedProxies,
      }),
      media: createMediaLinkHandler({
        signer: mediaLinks,
        source: wecom.media,
        maxConcurrent: config.mediaLinks.concurrency,
        logger: logger.child({ component: 'media-link' }),
      }),
      health: () => ({ node: config.nodeId, status: this.status, gateways: this.delivery.localCount() }),
      readiness: () => this.readiness(),
    });
    metrics.observeQueueBacklog(async () => this.delivery.backlog());
    metrics.observeReadiness(() => this.readiness());
    metrics.draining.set(0);
    this.rebalancer = new Rebalancer({
      ...config.rebalance,
      nodeId: config.nodeId,
      presence: backend.presence,
      localCount: () => this.delivery.localCount(),
      shed: (n) => this.delivery.shed(n, 'rebalancing: reconnect to a less loaded node'),
      logger: logger.child({ component: 'rebalance' }),
      onShed: (n) => controlMetrics.rebalanceClosed.inc(n),
    });
    this.admin =
      config.admin.tokens.length === 0
        ? null
        : new AdminServer({
            host: config.admin.host,
            port: config.admin.port,
            tokens: config.admin.tokens,
            logger: logger.child({ component: 'admin' }),
            onRequest: (route, status) => controlMetrics.adminRequests.inc({ route, status: String(status) }),
            operations: new AdminOperations({
              nodeId: config.nodeId,
              presence: backend.presence,
              queue: backend.queue,
              bindings: backend.bindings,
              bus: backend.bus,
              unbindGateway: (gatewayId) => binding.unbindAll(gatewayId),
              redeliverLocal: (gatewayId, afterId) => this.delivery.redeliver(gatewayId, afterId),
              drainSelf: (by) => this.requestDrain(by),
              logger: logger.child({ component: 'admin' }),
            }),
          });
  }

  /** Current lifecycle status. */
  get state(): RelayNodeStatus {
    return this.status;
  }

  /** Ports actually bound (configured 0 picks free ones). */
  ports(): { http: number; ws: number; metrics: number } {
    return { http: this.http.port(), ws: this.gateways.address().port, metrics: this.metricsServer.port() };
  }

  /** The admin API's bound port, or null when it is off (no ADMIN_TOKEN/ADMIN_TOKENS). */
  adminPort(): number | null {
    return this.admin?.port() ?? null;
  }

  /** An operator asked for a drain: hand it to the entry point (which exits afterwards), or drain in place. */
  private requestDrain(by: string): void {
    if (this.status !== 'running') return;
    this.deps.logger.info({ admin: by }, 'drain requested by an operator');
    if (this.deps.onDrainRequested) this.deps.onDrainRequested(by);
    else void this.drain().catch((err: unknown) => this.deps.logger.error({ err }, 'drain failed'));
  }

  /** Opens the ports and starts pulling. */
  async start(): Promise<void> {
    this.setStatus('starting');
    // HTTP first, so orchestrators see /healthz (and a false /readyz) while Redis is still being reached.
    await this.http.listen();
    await this.metricsServer.listen();
    await this.admin?.listen();
    await this.delivery.start();
    await this.gateways.start();
    for (const loop of this.syncs.values()) loop.start();
    this.rebalancer.start();
    this.setStatus('running');
    this.deps.logger.info({ ...this.ports(), admin: this.adminPort(), backend: this.deps.backend.kind }, 'relay node running');
  }

  /**
   * Graceful stop for SIGTERM: readiness goes false, no new sockets, gateways are told to reconnect elsewhere
   * (1012) spread over the drain window, then everything closes.
   */
  async drain(): Promise<void> {
    if (this.status !== 'running') return this.close();
    this.setStatus('draining');
    this.rebalancer.stop();
    this.gateways.stopAccepting();
    const { closeCode, message } = ERROR_CATALOG.SERVICE_RESTART;
    await this.gateways.drain({ closeCode, reason: message, spreadMs: this.deps.config.drain.spreadMs });
    await this.close();
  }

  /** Stops everything in order: pulls, sockets, delivery, HTTP, then the backend. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.setStatus('closing');
      this.rebalancer.stop();
      await Promise.all([...this.syncs.values()].map((loop) => loop.close()));
      await this.gateways.close({ code: 1001, reason: 'relay node stopping' });
      await this.delivery.close();
      await this.http.close();
      await this.metricsServer.close();
      await this.admin?.close();
      await this.deps.backend.close();
      this.setStatus('closed');
    })();
    return this.closing;
  }

  /**
   * A callback for one account pulls that account alone; one naming no account (WeCom's older callbacks) pulls
   * every account, its Token offered to each (an account it does not belong to answers 95007 and pulls without it).
   */
  private async notifySync(openKfid: string | null, token: string | null): Promise<void> {
    const loop = openKfid === null ? undefined : this.syncs.get(openKfid);
    if (loop) return loop.notify(token);
    await Promise.all([...this.syncs.values()].map((l) => l.notify(token)));
  }

  private readiness(): { ready: boolean; checks: Record<string, boolean> } {
    const checks = { running: this.status === 'running', state: this.deps.backend.isLive() };
    return { ready: Object.values(checks).every(Boolean), checks };
  }

  private setStatus(next: RelayNodeStatus): void {
    this.deps.logger.debug({ from: this.status, to: next }, 'node status');
    this.status = next;
    this.metrics.draining.set(next === 'draining' || next === 'closing' ? 1 : 0);
  }
}
