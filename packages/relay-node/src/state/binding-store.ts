/** The WeCom event a binding comes from: its send_time (unix seconds) and msgid. */
export interface BindingEventOrder {
  at: number;
  eventId: string;
  /** The kf account the event came in on: the binding remembers it so replies go out from it. */
  openKfid?: string;
}

/** What {@link BindingStore.bindInOrder} did: `repeat` = this very event set the current order already. */
export type OrderedBindOutcome = 'bound' | 'repeat' | 'stale';

/** Where each WeCom user is bound: external_userid → gateway_id, with an index by gateway. */
export interface BindingStore {
  /** The gateway a user is bound to, or null. */
  gatewayFor(externalUserId: string): Promise<string | null>;
  /** Binds a user, moving them if bound elsewhere; resolves to the gateway they were bound to before, if any. */
  bind(externalUserId: string, gatewayId: string): Promise<string | null>;
  /**
   * Binds like {@link bind}, in the order of the WeCom events that ask for it. The store keeps, per user, the
   * send_time and msgid of the last binding event applied (kept through unbindAll) and refuses (`stale`, nothing
   * changes) an event older than that, and changes nothing for that same event again (`repeat`).
   *
   * Why event order and not the sync fence: a puller whose lease ran out only ever handles events the newer
   * puller pulls too, and not later ones, so its binds are older events and are refused once the newer puller has
   * applied a later one. A fence alone could not tell an old event re-pulled by a newer holder (a page retried
   * after a partial failure, or after unbind_all) from a new one, and would let that re-pull bind the user back.
   * Two binding events of one user within the same second both apply, in pull order.
   * A `bound` outcome records `order.openKfid` as the binding's account, or clears it when absent.
   */
  bindInOrder(externalUserId: string, gatewayId: string, order: BindingEventOrder): Promise<{ outcome: OrderedBindOutcome; previous: string | null }>;
  /**
   * The kf account the user's current binding came through ({@link bindInOrder} with an openKfid), or null when
   * the user is not bound or the binding records none (made before several accounts, or by bind()): the caller
   * then takes its first configured account.
   */
  accountOf(externalUserId: string): Promise<string | null>;
  /** The users bound to a gateway, in no particular order. */
  usersOf(gatewayId: string): Promise<string[]>;
  /** Removes one user's binding; resolves to the gateway they were bound to, or null when they were not bound. */
  unbind(externalUserId: string): Promise<string | null>;
  /** Removes every binding of a gateway; resolves to the users that were unbound. */
  unbindAll(gatewayId: string): Promise<string[]>;
  /** Every binding as [externalUserId, gatewayId], for export and migration. */
  entries(): AsyncIterable<[string, string]>;
  /** Releases what the store opened itself (never a client passed in). Idempotent. */
  close(): Promise<void>;
}
