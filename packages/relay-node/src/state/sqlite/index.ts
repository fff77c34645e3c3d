export { openSqliteDatabase, type OpenSqliteDatabaseOptions } from './open-sqlite-database.js';
export { SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION, migrateSqliteDatabase, readSchemaVersion } from './sqlite-migrations.js';
export { SqliteBindingStore, type SqliteBindingStoreOptions } from './sqlite-binding-store.js';
export { SqlitePendingBindingStore, type SqlitePendingBindingStoreOptions } from './sqlite-pending-binding-store.js';
export { SqliteDedupStore, type SqliteDedupStoreOptions } from './sqlite-dedup-store.js';
export { SqliteSyncCoordinator, type SqliteSyncCoordinatorOptions } from './sqlite-sync-coordinator.js';
export { SqliteLeaseTable, leaseTableFor } from './sqlite-lease-table.js';
export { SqliteDeliveryQueue, type SqliteDeliveryQueueOptions } from './sqlite-delivery-queue.js';
export { SqliteOutboundLedger } from './sqlite-outbound-ledger.js';
