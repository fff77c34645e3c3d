/** Where each WeCom user is bound: external_userid → gateway_id, with an index by gateway. */
export interface BindingStore {
  /** The gateway a user is bound to, or null. */
  gatewayFor(externalUserId: string): Promise<string | null>;
  /** Binds a user, moving them if bound elsewhere; resolves to the gateway they were bound to before, if any. */
  bind(externalUserId: string, gatewayId: string): Promise<string | null>;
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
