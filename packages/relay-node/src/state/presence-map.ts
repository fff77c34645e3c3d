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
  /**
   * Every node whose heartbeat is live, with how many gateways it holds and whether its last beat is recent
   * (operators list them all; rebalancing counts only the recent ones).
   */
  liveNodes(): Promise<NodeLoad[]>;
  /** The gateways a node holds (none when its heartbeat lapsed). */
  ownedBy(nodeId: string): Promise<string[]>;
  /** Records how the gateway's connection of this generation looks; ignored once a newer one claimed it. */
  describe(gatewayId: string, generation: number, details: ConnectionDetails): Promise<void>;
  /** The live owner and, when its node recorded them, the connection's details; null when no live node holds it. */
  details(gatewayId: string): Promise<{ owner: PresenceEntry; details: ConnectionDetails | null } | null>;
  close(): Promise<void>;
}

/** How a gateway is connected, as the node holding it recorded at attach. */
export interface ConnectionDetails {
  /** Epoch ms the socket opened. */
  since: number;
  dialect: string;
  delivery: string;
}

/** A live node and how many gateways it holds. */
export interface NodeLoad {
  nodeId: string;
  gateways: number;
  /**
   * Whether the node beat within the last two thirds of the ttl it gave (two beats, as the delivery service's ttl
   * spans three). A node killed outright stays live, holding ever fewer gateways as they reconnect elsewhere, until
   * its ttl runs out; it stops being fresh a beat sooner, so load balancing can leave it out.
   */
  fresh: boolean;
}

/** Whether a beat `ageMs` old, that gave `ttlMs`, still counts as recent (see {@link NodeLoad.fresh}). */
export function isRecentBeat(ageMs: number, ttlMs: number): boolean {
  return ageMs <= (ttlMs * 2) / 3;
}

/** One gateway's owner. */
export interface PresenceEntry {
  nodeId: string;
  generation: number;
}
