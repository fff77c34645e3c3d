import type { Database, Statement } from 'better-sqlite3';
import type { BindingEventOrder, BindingStore, OrderedBindOutcome } from '../binding-store.js';

/** Options for {@link SqliteBindingStore}. */
export interface SqliteBindingStoreOptions {
  /** entries() reads this many rows per query, so no statement stays open while the caller awaits. */
  pageSize?: number;
}

/** Bindings in the single-node SQLite file (user → gateway, indexed by gateway); they survive restarts. */
export class SqliteBindingStore implements BindingStore {
  private readonly pageSize: number;
  private readonly selectGateway: Statement<[string], { gateway_id: string }>;
  private readonly upsert: Statement<[string, string]>;
  private readonly selectUsers: Statement<[string], { external_user_id: string }>;
  private readonly deleteGateway: Statement<[string], { external_user_id: string }>;
  private readonly deleteUser: Statement<[string], { gateway_id: string }>;
  private readonly selectAccount: Statement<[string], { open_kfid: string | null }>;
  private readonly selectPage: Statement<[string, number], { external_user_id: string; gateway_id: string }>;
  private readonly bindTx: (externalUserId: string, gatewayId: string) => string | null;
  private readonly bindInOrderTx: (
    externalUserId: string,
    gatewayId: string,
    order: BindingEventOrder,
  ) => { outcome: OrderedBindOutcome; previous: string | null };

  /** `db` must come from openSqliteDatabase; the store never closes it. */
  constructor(db: Database, options: SqliteBindingStoreOptions = {}) {
    this.pageSize = Math.max(1, Math.floor(options.pageSize ?? 500));
    this.selectGateway = db.prepare('SELECT gateway_id FROM bindings WHERE external_user_id = ?');
    this.upsert = db.prepare(
      'INSERT INTO bindings (external_user_id, gateway_id) VALUES (?, ?) ' +
        'ON CONFLICT (external_user_id) DO UPDATE SET gateway_id = excluded.gateway_id',
    );
    this.selectAccount = db.prepare('SELECT open_kfid FROM bindings WHERE external_user_id = ?');
    this.selectUsers = db.prepare('SELECT external_user_id FROM bindings WHERE gateway_id = ?');
    this.deleteGateway = db.prepare('DELETE FROM bindings WHERE gateway_id = ? RETURNING external_user_id');
    this.deleteUser = db.prepare('DELETE FROM bindings WHERE external_user_id = ? RETURNING gateway_id');
    this.selectPage = db.prepare(
      'SELECT external_user_id, gateway_id FROM bindings WHERE external_user_id > ? ORDER BY external_user_id LIMIT ?',
    );
    this.bindTx = db.transaction((externalUserId: string, gatewayId: string) => {
      const previous = this.selectGateway.get(externalUserId)?.gateway_id ?? null;
      this.upsert.run(externalUserId, gatewayId);
      return previous;
    });
    const selectOrder: Statement<[string], { at: number; event_id: string }> = db.prepare(
      'SELECT at, event_id FROM binding_orders WHERE external_user_id = ?',
    );
    const upsertOrder: Statement<[string, number, string]> = db.prepare(
      'INSERT INTO binding_orders (external_user_id, at, event_id) VALUES (?, ?, ?) ' +
        'ON CONFLICT (external_user_id) DO UPDATE SET at = excluded.at, event_id = excluded.event_id',
    );
    const setAccount: Statement<[string | null, string]> = db.prepare('UPDATE bindings SET open_kfid = ? WHERE external_user_id = ?');
    this.bindInOrderTx = db.transaction((externalUserId: string, gatewayId: string, order: BindingEventOrder) => {
      const stored = selectOrder.get(externalUserId);
      const current = this.selectGateway.get(externalUserId)?.gateway_id ?? null;
      if (stored && stored.at > order.at) return { outcome: 'stale' as const, previous: current };
      if (stored && stored.at === order.at && stored.event_id === order.eventId) return { outcome: 'repeat' as const, previous: current };
      upsertOrder.run(externalUserId, order.at, order.eventId);
      const previous = this.bindTx(externalUserId, gatewayId);
      setAccount.run(order.openKfid ?? null, externalUserId);
      return { outcome: 'bound' as const, previous };
    }).immediate;
  }

  /** The gateway a user is bound to, or null. */
  async gatewayFor(externalUserId: string): Promise<string | null> {
    return this.selectGateway.get(externalUserId)?.gateway_id ?? null;
  }

  /** Binds a user, moving them if bound elsewhere; resolves to the previous gateway. */
  async bind(externalUserId: string, gatewayId: string): Promise<string | null> {
    return this.bindTx(externalUserId, gatewayId);
  }

  /** Binds unless an event as new or newer set the user's binding, in one transaction. */
  async bindInOrder(
    externalUserId: string,
    gatewayId: string,
    order: BindingEventOrder,
  ): Promise<{ outcome: OrderedBindOutcome; previous: string | null }> {
    return this.bindInOrderTx(externalUserId, gatewayId, order);
  }

  /** The kf account the user's binding came through, if recorded. */
  async accountOf(externalUserId: string): Promise<string | null> {
    return this.selectAccount.get(externalUserId)?.open_kfid ?? null;
  }

  /** The users bound to a gateway. */
  async usersOf(gatewayId: string): Promise<string[]> {
    return this.selectUsers.all(gatewayId).map((row) => row.external_user_id);
  }

  /** Removes one user's binding in one statement; resolves to the gateway they were bound to. */
  async unbind(externalUserId: string): Promise<string | null> {
    return this.deleteUser.get(externalUserId)?.gateway_id ?? null;
  }

  /** Removes every binding of a gateway in one statement; resolves to the users that were unbound. */
  async unbindAll(gatewayId: string): Promise<string[]> {
    return this.deleteGateway.all(gatewayId).map((row) => row.external_user_id);
  }

  /** Every binding, read page by page in user order. */
  async *entries(): AsyncIterable<[string, string]> {
    let after = '';
    for (;;) {
      const rows = this.selectPage.all(after, this.pageSize);
      for (const row of rows) yield [row.external_user_id, row.gateway_id];
      const last = rows.at(-1);
      if (last === undefined || rows.length < this.pageSize) return;
      after = last.external_user_id;
    }
  }

  /** The Database belongs to the caller; nothing else to release. */
  async close(): Promise<void> {}
}
