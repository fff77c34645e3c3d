import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { createOperatorMetrics } from './operator-metrics.js';

/** How often the event-loop delay histogram (nodejs_eventloop_lag_*) takes a sample. */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * Every metric a node exports on /metrics. Created once per node with its own registry. No label names the node:
 * Prometheus adds the target's own (`instance`, `pod`), and a `node` label would collide with Kubernetes' node name.
 * The node id stays accepted for callers that pass it.
 */
export function createMetrics(_nodeId?: string) {
  const registry = new Registry();
  // The standard process_* and nodejs_* names, so stock Node.js dashboards work unchanged. The event-loop delay is
  // sampled every 100 ms rather than prom-client's 10 ms: each sample wakes the loop, and those wakeups were most of an
  // idle node's. A stall of 100 ms or more is still always seen.
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  // Gauges named *_total break Prometheus' naming rules (promtool warns); the same counts stay in
  // nodejs_active_handles / nodejs_active_requests / nodejs_active_resources, by type (sum them for the total).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name);
  }
  const r = [registry];
  let sendBudgetUsed: () => number = () => 0;
  return {
    registry,
    webhookRequests: new Counter({
      name: 'relay_webhook_requests_total',
      help: 'WeCom webhook requests by kind (verify, callback) and outcome (ok, replay of an accepted callback, or an error code)',
      labelNames: ['kind', 'outcome'] as const,
      registers: r,
    }),
    syncRuns: new Counter({
      name: 'relay_sync_runs_total',
      help: 'kf/sync_msg pull runs by kf account and outcome (ok, busy, error, stale)',
      labelNames: ['open_kfid', 'outcome'] as const,
      registers: r,
    }),
    syncPages: new Counter({ name: 'relay_sync_pages_total', help: 'kf/sync_msg pages pulled, by kf account', labelNames: ['open_kfid'] as const, registers: r }),
    syncMessages: new Counter({
      name: 'relay_sync_messages_total',
      help: 'Messages and events kf/sync_msg returned, by kf account (the label takes only the configured WECOM_OPEN_KFID values)',
      labelNames: ['open_kfid'] as const,
      registers: r,
    }),
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
    servicerStatusChanges: new Counter({
      name: 'relay_servicer_status_changes_total',
      help: 'WeCom servicer_status_change events by status (1 receiving, 2 stopped) and stop_type; not sent to gateways',
      labelNames: ['status', 'stop_type'] as const,
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
    bindingTokens: new Counter({
      name: 'relay_binding_tokens_total',
      help: 'create_binding outcomes: created, reused, collision (drawn again), rate_limited, too_many',
      labelNames: ['outcome'] as const,
      registers: r,
    }),
    bindingAttempts: new Counter({
      name: 'relay_binding_attempts_total',
      help: 'Scanned or typed binding tokens by via (scan, typed) and outcome (bound, repeat, stale, unknown_token, guess_limited)',
      labelNames: ['via', 'outcome'] as const,
      registers: r,
    }),
    syncCursorStuck: new Counter({
      name: 'relay_sync_cursor_stuck_total',
      help: 'kf/sync_msg pages that said has_more=1 without moving the cursor (the pull backs off instead of spinning), by kf account',
      labelNames: ['open_kfid'] as const,
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
    repliesRefused: new Counter({
      name: 'relay_replies_refused_total',
      help: 'Replies the relay refused without sending, by reason (rate_limited, send_window_closed, in_progress)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    repliesRepeated: new Counter({
      name: 'relay_replies_repeated_total',
      help: 'Resent replies (same gateway, id, customer and content) answered with the first ack, not sent again',
      registers: r,
    }),
    replyParts: new Counter({
      name: 'relay_reply_parts_total',
      help: 'Parts of text replies sent to WeCom (a reply over 2048 UTF-8 bytes is sent in several)',
      registers: r,
    }),
    idleCollections: new Counter({
      name: 'relay_idle_collections_total',
      help: 'Full collections run once the node fell quiet, to give back the memory a busy spell grew (IDLE_COLLECT_AFTER_MS)',
      registers: r,
    }),
    ...createOperatorMetrics(r),
  };
}

/** The node's metrics. */
export type RelayMetrics = ReturnType<typeof createMetrics>;
