/** QR binding tokens waiting to be scanned: token → gateway_id, each with its own expiry. */
export interface PendingBindingStore {
  /** Issues a token for a gateway; it resolves until ttlMs has passed. */
  put(token: string, gatewayId: string, ttlMs: number): Promise<void>;
  /** The gateway a token was issued to, or null when unknown or expired. A token may be used until it expires. */
  lookup(token: string): Promise<string | null>;
  close(): Promise<void>;
}
