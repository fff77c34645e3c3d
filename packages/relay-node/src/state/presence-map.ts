/** Which node holds each gateway's socket. Ownership moves only forward: a newer connection always wins. */
export interface PresenceMap {
  /**
   * Records that nodeId now holds the gateway. Resolves to the new connection generation (strictly
   * increasing per gateway) and the previous owner, if another connection was live.
   */
  claim(gatewayId: string, nodeId: string): Promise<{ generation: number; previous: PresenceEntry | null }>;
  /** Drops the claim only if it is still this node's and this generation; a stale release changes nothing. */
  release(gatewayId: string, nodeId: string, generation: number): Promise<boolean>;
  /** The live owner, or null when no live node holds the gateway (a dead node's claims read as null). */
  lookup(gatewayId: string): Promise<PresenceEntry | null>;
  /**
   * Marks a node alive for ttlMs; a node that stops calling this loses its gateways when the ttl runs out.
   * Resolves to whether the node was still marked alive: false on the first beat, after a lapse, or when the
   * store lost its data (an empty Redis), which is the node's cue to claim its gateways again. `held` names the
   * gateways the node holds, so a store whose owner records expire can keep them alive for as long as the node is.
   */
  heartbeat(nodeId: string, ttlMs: number, held?: readonly string[]): Promise<boolean>;
  /** How many gateways a node currently holds, for metrics. */
  countOwnedBy(nodeId: string): Promise<number>;
  close(): Promise<void>;
}

/** One gateway's owner. */
export interface PresenceEntry {
  nodeId: string;
  generation: number;
}
