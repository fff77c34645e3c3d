/**
 * Backend-agnostic contract suites for the relay's shared-state interfaces. Each function registers one
 * `describe` block; `make()` must return a fresh, isolated store, and the suite closes whatever it made.
 * TTL behaviour uses short real TTLs and waits well past them; nothing asserts on elapsed time.
 */
export { bindingStoreContract } from './contracts/binding-store-contract.js';
export { pendingBindingStoreContract } from './contracts/pending-binding-store-contract.js';
export { dedupStoreContract } from './contracts/dedup-store-contract.js';
export { syncCoordinatorContract } from './contracts/sync-coordinator-contract.js';
export { presenceMapContract } from './contracts/presence-map-contract.js';
export { nodeBusContract } from './contracts/node-bus-contract.js';
export { deliveryQueueContract } from './contracts/delivery-queue-contract.js';
export { accessTokenStoreContract } from './contracts/access-token-store-contract.js';
export { LEDGER_FIRST_KF, outboundLedgerContract } from './contracts/outbound-ledger-contract.js';
export { replyRecordStoreContract } from './contracts/reply-record-store-contract.js';
export { presenceDirectoryContract, bindingUnbindContract } from './contracts/operator-state-contract.js';
