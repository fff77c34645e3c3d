export type { BindingStore, BindingEventOrder, OrderedBindOutcome } from './binding-store.js';
export type { PendingBindingStore, TokenIssueLimits, TokenIssueResult } from './pending-binding-store.js';
export type { DedupStore } from './dedup-store.js';
export type { SyncCoordinator, SyncLease, CallbackToken } from './sync-coordinator.js';
export type { PresenceMap, PresenceEntry } from './presence-map.js';
export type { NodeBus, BusMessage } from './node-bus.js';
export type { AccessTokenStore } from './access-token-store.js';
export type { OutboundLedger, SentReply, SendWindow } from './outbound-ledger.js';
export type { DeliveryQueue, QueuedItem, QueueAppendOptions } from './delivery-queue.js';
