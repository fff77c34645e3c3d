import type { Logger } from 'pino';
import type { StateBackend } from './state-backend.js';
import {
  openSqliteDatabase,
  SqliteBindingStore,
  SqliteDedupStore,
  SqliteDeliveryQueue,
  SqliteOutboundLedger,
  SqliteReplyRecordStore,
  SqlitePendingBindingStore,
  SqliteSyncCoordinator,
} from './sqlite/index.js';
import { MemoryNodeBus, MemoryPresenceMap } from './memory/index.js';
import { MemoryAccessTokenStore } from './memory/memory-access-token-store.js';

/**
 * One node alone: what must survive a restart (bindings, pending tokens, msgid dedup, the sync cursor, queued
 * events) lives in SQLite at `databasePath`; presence and the bus are in-process.
 */
export function createSingleNodeBackend(options: {
  databasePath: string;
  /**
   * The (first) kf account served: a deployed relay's sync cursor is carried to it when its file is upgraded, and
   * its send windows are the ones a single-account relay wrote.
   */
  openKfid?: string;
  logger?: Logger;
}): StateBackend {
  const db = openSqliteDatabase(options.databasePath, {
    ...(options.openKfid !== undefined ? { openKfid: options.openKfid } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
  });
  const stores = {
    bindings: new SqliteBindingStore(db),
    pendingBindings: new SqlitePendingBindingStore(db),
    dedup: new SqliteDedupStore(db),
    sync: new SqliteSyncCoordinator(db),
    presence: new MemoryPresenceMap(),
    bus: new MemoryNodeBus(),
    queue: new SqliteDeliveryQueue(db),
    accessTokens: new MemoryAccessTokenStore(),
    outbound: new SqliteOutboundLedger(db, options.openKfid !== undefined ? { firstOpenKfid: options.openKfid } : {}),
    replies: new SqliteReplyRecordStore(db),
  };
  let closing: Promise<void> | null = null;
  return {
    kind: 'single-node',
    ...stores,
    isLive: () => db.open,
    close() {
      closing ??= (async () => {
        await Promise.allSettled(Object.values(stores).map((s) => s.close()));
        db.close();
      })();
      return closing;
    },
  };
}
