export { MemoryBindingStore } from './memory-binding-store.js';
export { MemoryPendingBindingStore, type MemoryPendingBindingStoreOptions } from './memory-pending-binding-store.js';
export { MemoryDedupStore, type MemoryDedupStoreOptions } from './memory-dedup-store.js';
export { MemorySyncCoordinator, type MemorySyncCoordinatorOptions } from './memory-sync-coordinator.js';
export { MemoryPresenceMap, type MemoryPresenceMapOptions } from './memory-presence-map.js';
export { MemoryNodeBus, MemoryBusHub, type MemoryNodeBusOptions } from './memory-node-bus.js';
export { MemoryDeliveryQueue, type MemoryDeliveryQueueOptions } from './memory-delivery-queue.js';
export { MemoryAccessTokenStore, type MemoryAccessTokenStoreOptions } from './memory-access-token-store.js';
export { parseNumericDeliveryId } from './numeric-delivery-id.js';
