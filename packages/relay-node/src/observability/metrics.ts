import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric a node exports on /metrics. Created once per node with its own registry. */
export function createMetrics(nodeId: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ node: nodeId });
  collectDefaultMetrics({ register: registry, prefix: 'relay_process_' });
  const r = [registry];
  let sendBudgetUsed: () => number = () => 0;
  return {
    registry,
    webhookRequests: new Counter({
      name: 'relay_webhook_requests_total',
      help: 'WeCom webhook requests by kind (verify, callback) and outcome (ok or an error code)',
      labelNames: ['kind', 'outcome'] as const,
      registers: r,
    }),
    syncRuns: new Counter({
      name: 'relay_sync_runs_total',
      help: 'kf/sync_msg pull runs by outcome (ok, busy, error, stale)',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    syncPages: new Counter({ name: 'relay_sync_pages_total', help: 'kf/sync_msg pages pulled', registers: r }),
    syncDuration: new Histogram({
      name: 'relay_sync_duration_seconds',
      help: 'Duration of one pull run (all pages)',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    }),
    messagesIn: new Counter({
      name: 'relay_messages_inbound_total',
      help: 'Messages pulled from WeCom by msgtype and outcome (queued, duplicate, unbound, ignored, binding)',
      labelNames: ['msgtype', 'outcome'] as const,
      registers: r,
    }),
    messagesOut: new Counter({
      name: 'relay_messages_outbound_total',
      help: 'Messages sent to WeCom users by msgtype and outcome (ok or an error code)',
      labelNames: ['msgtype', 'outcome'] as const,
      registers: r,
    }),
    wecomApiCalls: new Counter({
      name: 'relay_wecom_api_calls_total',
      help: 'WeCom API calls by api and errcode (0 = ok, network = no answer)',
      labelNames: ['api', 'errcode'] as const,
      registers: r,
    }),
    wecomApiDuration: new Histogram({
      name: 'relay_wecom_api_duration_seconds',
      help: 'WeCom API call latency by api',
      labelNames: ['api'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    }),
    tokenRefreshes: new Counter({
      name: 'relay_wecom_token_refreshes_total',
      help: 'Access token refreshes by outcome',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    gatewaysConnected: new Gauge({
      name: 'relay_gateways_connected',
      help: 'Gateways holding an authenticated socket on this node',
      registers: r,
    }),
    gatewayFrames: new Counter({
      name: 'relay_gateway_frames_total',
      help: 'Frames by direction (in, out) and type',
      labelNames: ['direction', 'type'] as const,
      registers: r,
    }),
    frameErrors: new Counter({
      name: 'relay_gateway_frame_errors_total',
      help: 'Frames answered with an error, by error code',
      labelNames: ['code'] as const,
      registers: r,
    }),
    deliveries: new Counter({
      name: 'relay_deliveries_total',
      help: 'Events written to gateway sockets, by route (local = enqueued here, remote = enqueued by another node)',
      labelNames: ['route'] as const,
      registers: r,
    }),
    busMessages: new Counter({
      name: 'relay_bus_messages_total',
      help: 'Node bus messages by direction (sent, received) and kind',
      labelNames: ['direction', 'kind'] as const,
      registers: r,
    }),
    deliveryLatency: new Histogram({
      name: 'relay_delivery_latency_seconds',
      help: 'From enqueue to the frame written on the gateway socket, by route (remote = published by another node)',
      labelNames: ['route'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300],
      registers: r,
    }),
    socketsRefused: new Counter({
      name: 'relay_gateway_sockets_refused_total',
      help: 'Gateway sockets refused or cut off before authenticating, by reason (per_source_limit, node_socket_limit, node_byte_limit, hello_too_large, hello_timeout, not_hello, auth_failed, not_accepting)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    slowGatewaysClosed: new Counter({
      name: 'relay_gateway_slow_closed_total',
      help: 'Gateways closed 4009 for not reading, by reason (buffer_full: their socket cap; over_share: the node send budget)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    sendBudgetUsed: new Gauge({
      name: 'relay_gateway_send_budget_used_bytes',
      help: 'Bytes held for gateways: frames waiting in socket buffers and media in flight',
      registers: r,
      collect() {
        this.set(sendBudgetUsed());
      },
    }),
    /** Where relay_gateway_send_budget_used_bytes reads its figure at each scrape. */
    observeSendBudget(read: () => number): void {
      sendBudgetUsed = read;
    },
    queueDropped: new Counter({
      name: 'relay_queue_dropped_total',
      help: 'Queued events dropped by the retention bound (age or count) before delivery',
      registers: r,
    }),
  };
}

/** The node's metrics. */
export type RelayMetrics = ReturnType<typeof createMetrics>;
