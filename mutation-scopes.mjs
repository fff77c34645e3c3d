// Which sources each mutation scope mutates, and the fast in-process test files that guard them.
// Shared by stryker.config.mjs and vitest.mutation.config.ts; pick one with MUTATION_SCOPE=<name>.

/** @type {Record<string, { mutate: string[]; tests: string[] }>} */
export const MUTATION_SCOPES = {
  crypto: {
    mutate: ['packages/shared/src/crypto/**/*.ts'],
    tests: ['packages/shared/test/wecom-crypto.test.ts', 'packages/shared/test/wecom-crypto-edges.test.ts', 'packages/shared/test/callback-xml.test.ts'],
  },
  auth: {
    mutate: ['packages/shared/src/auth/**/*.ts', 'packages/relay-node/src/app/gateway-authenticator.ts'],
    tests: [
      'packages/shared/test/gateway-token.test.ts',
      'packages/relay-node/test/unit/gateway-authenticator.test.ts',
      'packages/relay-node/test/unit/gateway-authenticator-tokens.test.ts',
      'packages/relay-node/test/unit/gateway-authenticator-rotation.test.ts',
      'packages/relay-node/test/core/gateway-authenticator-logs.test.ts',
    ],
  },
  webhook: {
    mutate: ['packages/relay-node/src/http/webhook-handler.ts'],
    tests: [
      'packages/relay-node/test/core/webhook-handler.test.ts',
      'packages/relay-node/test/core/webhook-handler-logs.test.ts',
      // In process too (a real HTTP server on a free port): replay window, deadline, duplicates, refusal log.
      'packages/relay-node/test/http/webhook-handler.test.ts',
      'packages/relay-node/test/core/webhook-handler-edges.test.ts',
    ],
  },
  'sync-loop': {
    mutate: ['packages/relay-node/src/inbound/sync-loop.ts'],
    tests: [
      'packages/relay-node/test/core/sync-loop.test.ts',
      'packages/relay-node/test/core/sync-loop-timers.test.ts',
      'packages/relay-node/test/core/sync-loop-edges.test.ts',
      'packages/relay-node/test/inbound/sync-loop-stuck-cursor.test.ts',
      'packages/relay-node/test/core/sync-loop-stuck-episodes.test.ts',
      'packages/relay-node/test/core/sync-loop-more.test.ts',
    ],
  },
  reply: {
    mutate: ['packages/relay-node/src/outbound/reply-service.ts'],
    tests: [
      'packages/relay-node/test/core/relay-gateway-app.test.ts',
      'packages/relay-node/test/core/reply-service.test.ts',
      'packages/relay-node/test/outbound/reply-service.test.ts',
      'packages/relay-node/test/core/reply-service-prepared.test.ts',
    ],
  },
  binding: {
    mutate: ['packages/relay-node/src/binding/**/*.ts'],
    tests: ['packages/relay-node/test/binding/**/*.test.ts'],
  },
  delivery: {
    // The engine: the facade and the parts it is split into. Left out (see docs/mutation-report.md, "delivery"):
    // customer-profiles.ts, feature-gates.ts, rebalancer.ts, enqueue-batch.ts.
    mutate: [
      'packages/relay-node/src/delivery/delivery-service.ts',
      'packages/relay-node/src/delivery/gateway-drain.ts',
      'packages/relay-node/src/delivery/gateway-ownership.ts',
      'packages/relay-node/src/delivery/ownership-sweep.ts',
      'packages/relay-node/src/delivery/ack-window.ts',
      'packages/relay-node/src/delivery/retention-trimmer.ts',
      'packages/relay-node/src/delivery/media-inliner.ts',
      'packages/relay-node/src/delivery/local-gateways.ts',
    ],
    tests: [
      'packages/relay-node/test/core/delivery-service.test.ts',
      'packages/relay-node/test/core/delivery-service-media.test.ts',
      'packages/relay-node/test/core/delivery-races.test.ts',
      'packages/relay-node/test/unit/redeliver.test.ts',
      'packages/relay-node/test/unit/ack-window.test.ts',
      'packages/relay-node/test/core/delivery-sweep.test.ts',
      'packages/relay-node/test/core/delivery-ownership.test.ts',
      'packages/relay-node/test/core/delivery-drain-edges.test.ts',
      'packages/relay-node/test/core/delivery-retention.test.ts',
      'packages/relay-node/test/core/delivery-attach.test.ts',
      'packages/relay-node/test/core/delivery-media-errors.test.ts',
      'packages/relay-node/test/core/delivery-media-links.test.ts',
      'packages/relay-node/test/core/delivery-wake.test.ts',
    ],
  },
  stores: {
    mutate: [
      'packages/relay-node/src/state/memory/memory-delivery-queue.ts',
      'packages/relay-node/src/state/memory/memory-presence-map.ts',
      'packages/relay-node/src/state/memory/memory-sync-coordinator.ts',
      'packages/relay-node/src/state/sqlite/sqlite-delivery-queue.ts',
      'packages/relay-node/src/state/sqlite/sqlite-sync-coordinator.ts',
      'packages/relay-node/src/state/sqlite/sqlite-lease-table.ts',
      'packages/relay-node/src/state/delivery-queue.ts',
    ],
    // Redis implementations are left out: see docs/mutation-report.md ("stores").
    tests: [
      'packages/relay-node/test/state/memory-state.test.ts',
      'packages/relay-node/test/state/sqlite-state.test.ts',
      'packages/relay-node/test/state/*-store-edges.test.ts',
      'packages/relay-node/test/state/queue-dedup-at.test.ts',
    ],
  },
};

/** The scope named by MUTATION_SCOPE; throws with the list of names when it is missing or unknown. */
export function selectedScope() {
  const name = process.env.MUTATION_SCOPE ?? '';
  const scope = MUTATION_SCOPES[name];
  if (!scope) throw new Error(`set MUTATION_SCOPE to one of: ${Object.keys(MUTATION_SCOPES).join(', ')}`);
  return { name, ...scope };
}
