import type { AccessTokenStore } from './access-token-store.js';
import type { BindingStore } from './binding-store.js';
import type { DedupStore } from './dedup-store.js';
import type { DeliveryQueue } from './delivery-queue.js';
import type { NodeBus } from './node-bus.js';
import type { PendingBindingStore } from './pending-binding-store.js';
import type { PresenceMap } from './presence-map.js';
import type { SyncCoordinator } from './sync-coordinator.js';
import type { OutboundLedger } from './outbound-ledger.js';
import type { RouteAppender } from './route-appender.js';
import type { ReplyRecordStore } from './reply-record-store.js';

/** Every piece of shared state a node uses, from one backend (single-node SQLite + memory, or Redis). */
export interface StateBackend {
  readonly kind: 'single-node' | 'redis';
  readonly bindings: BindingStore;
  readonly pendingBindings: PendingBindingStore;
  readonly dedup: DedupStore;
  readonly sync: SyncCoordinator;
  readonly presence: PresenceMap;
  readonly bus: NodeBus;
  readonly queue: DeliveryQueue;
  readonly accessTokens: AccessTokenStore;
  readonly outbound: OutboundLedger;
  readonly replies: ReplyRecordStore;
  /** Decides and queues a page's messages in one step, where decisions and queues share one server (one Redis). */
  readonly routeAppender?: RouteAppender;
  /** Whether the backend is reachable right now (readiness). */
  isLive(): boolean;
  /** Closes every store, then the connections the backend opened. Idempotent. */
  close(): Promise<void>;
}
