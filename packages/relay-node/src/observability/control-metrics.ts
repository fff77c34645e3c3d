import { Counter, type Registry } from 'prom-client';

/** Metrics of the operator features (secret rotation, admin API, rebalancing), on the node's registry. */
export function createControlMetrics(registry: Registry) {
  const r = [registry];
  return {
    gatewayAuths: new Counter({
      name: 'relay_gateway_auth_total',
      help: 'Gateway hellos accepted, by the secret their token came from (current, previous) and mode (derived, legacy)',
      labelNames: ['secret', 'mode'] as const,
      registers: r,
    }),
    webhookCredentials: new Counter({
      name: 'relay_webhook_credentials_total',
      help: 'WeCom callbacks accepted, by which Token and EncodingAESKey verified them (current, previous)',
      labelNames: ['token', 'aes_key'] as const,
      registers: r,
    }),
    adminRequests: new Counter({
      name: 'relay_admin_requests_total',
      help: 'Admin API requests by route and status',
      labelNames: ['route', 'status'] as const,
      registers: r,
    }),
    rebalanceClosed: new Counter({
      name: 'relay_rebalance_closed_total',
      help: 'Gateway sockets this node closed (1012) to hand them to less loaded nodes',
      registers: r,
    }),
  };
}

/** The control features' metrics. */
export type ControlMetrics = ReturnType<typeof createControlMetrics>;
