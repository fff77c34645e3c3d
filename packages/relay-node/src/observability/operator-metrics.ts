import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import relayPackage from '../../package.json' with { type: 'json' };

/** Events this node's gateways were not yet given (or, in ack mode, have not confirmed), and how old the oldest is. */
export interface QueueBacklogSnapshot {
  events: number;
  /** Age of the oldest waiting event in seconds; 0 when nothing waits. */
  oldestAgeSeconds: number;
}

/** Close codes counted by their own label value; any other code a peer sends is counted as `other`. */
const KNOWN_CLOSE_CODES = new Set([1000, 1001, 1005, 1006, 1008, 1009, 1011, 1012, 4001, 4002, 4003, 4004, 4008, 4009]);

/** The `code` label of a gateway socket close: bounded, so a peer choosing codes cannot grow the series. */
export function closeCodeLabel(code: number): string {
  return KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other';
}

/**
 * The metrics an operator alerts on beyond the traffic counters: backlog, sync freshness, lease, Redis health,
 * draining, socket closes and build. Every label has a bounded set of values.
 */
export function createOperatorMetrics(r: Registry[]) {
  let backlogSource: (() => Promise<QueueBacklogSnapshot>) | null = null;
  // A scrape collects the gauges in registration order: the first takes one reading and the second the same one,
  // so the two values agree.
  let sharedReading: Promise<QueueBacklogSnapshot | null> | null = null;
  let readinessSource: (() => { ready: boolean; checks: Record<string, boolean> }) | null = null;
  /** A failed reading (Redis away) resolves null and leaves the gauges as they were. */
  const readBacklog = (): Promise<QueueBacklogSnapshot | null> =>
    backlogSource ? backlogSource().catch(() => null) : Promise.resolve(null);
  const queueWaiting: Gauge = new Gauge({
    name: 'relay_queue_waiting_events',
    help: 'Events read for the gateways connected to this node and not yet written (legacy) or confirmed (ack mode); no queue is read for it',
    registers: r,
    async collect() {
      sharedReading = readBacklog();
      const backlog = await sharedReading;
      if (backlog) queueWaiting.set(backlog.events);
    },
  });
  const queueOldestAge: Gauge = new Gauge({
    name: 'relay_queue_oldest_event_age_seconds',
    help: 'Age of the oldest event read for a gateway connected to this node and not yet written or confirmed (0 when none)',
    registers: r,
    async collect() {
      const reading = sharedReading ?? readBacklog();
      sharedReading = null;
      const backlog = await reading;
      if (backlog) queueOldestAge.set(backlog.oldestAgeSeconds);
    },
  });
  const ready: Gauge = new Gauge({
    name: 'relay_ready',
    help: '1 while the node is ready for traffic (what /readyz answers 200 to), else 0',
    registers: r,
    collect() {
      if (readinessSource) ready.set(readinessSource().ready ? 1 : 0);
    },
  });
  const stateBackendUp: Gauge = new Gauge({
    name: 'relay_state_backend_up',
    help: '1 while the state backend is reachable (Redis connected with a live bus subscription, or SQLite open), else 0',
    registers: r,
    collect() {
      if (readinessSource) stateBackendUp.set(readinessSource().checks.state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'relay_build_info',
    help: 'Always 1; labels name the relay version and the Node.js version running it',
    labelNames: ['version', 'node_version'] as const,
    registers: r,
  }).set({ version: relayPackage.version, node_version: process.version }, 1);
  return {
    queueWaiting,
    queueOldestAge,
    ready,
    stateBackendUp,
    /** Gives the readiness gauges their source; read at scrape time. */
    observeReadiness(source: () => { ready: boolean; checks: Record<string, boolean> }): void {
      readinessSource = source;
    },
    /** Gives the backlog gauges their source; read at scrape time. */
    observeQueueBacklog(source: () => Promise<QueueBacklogSnapshot>): void {
      backlogSource = source;
    },
    syncLastSuccess: new Gauge({
      name: 'relay_sync_last_success_timestamp_seconds',
      help: 'Unix time this node last finished a kf/sync_msg pull to the end (has_more 0), by kf account',
      labelNames: ['open_kfid'] as const,
      registers: r,
    }),
    syncLeaseHeld: new Gauge({
      name: 'relay_sync_lease_held',
      help: 'Whether this node holds the sync lease of a kf account (1 while it pulls), by kf account',
      labelNames: ['open_kfid'] as const,
      registers: r,
    }),
    redisCommandDuration: new Histogram({
      name: 'relay_redis_command_duration_seconds',
      help: 'Redis command latency from issue to reply (including time queued while disconnected), by command',
      labelNames: ['command'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    }),
    redisCommandErrors: new Counter({
      name: 'relay_redis_command_errors_total',
      help: 'Redis commands that failed (error reply, connection lost, retries exhausted), by command',
      labelNames: ['command'] as const,
      registers: r,
    }),
    draining: new Gauge({
      name: 'relay_draining',
      help: '1 while the node drains or shuts down after SIGTERM, else 0',
      registers: r,
    }),
    gatewayCloses: new Counter({
      name: 'relay_gateway_closes_total',
      help: 'Gateway sockets closed, by WebSocket close code (other = a code outside the relay\'s and the standard ones)',
      labelNames: ['code'] as const,
      registers: r,
    }),
  };
}
