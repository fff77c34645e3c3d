import { isRecentBeat, type ConnectionDetails, type NodeLoad, type PresenceEntry, type PresenceMap } from '../presence-map.js';

/** Options for {@link MemoryPresenceMap}. */
export interface MemoryPresenceMapOptions {
  /** Clock in epoch ms; heartbeat expiry is judged by it. */
  now?: () => number;
}

/** Gateway ownership in process memory, for a single node (or several nodes sharing one process in tests). */
export class MemoryPresenceMap implements PresenceMap {
  private readonly owners = new Map<string, PresenceEntry>();
  // Kept after release so a gateway's generation never repeats, even across disconnects.
  private readonly lastGeneration = new Map<string, number>();
  /** Each node's last beat: when, and the ttl it gave. */
  private readonly beats = new Map<string, { at: number; ttlMs: number }>();
  private readonly connections = new Map<string, { generation: number; details: ConnectionDetails }>();
  private readonly now: () => number;

  constructor(options: MemoryPresenceMapOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  /** Makes nodeId the owner with the next generation; reports the previous owner when that one was live. */
  async claim(gatewayId: string, nodeId: string): Promise<{ generation: number; previous: PresenceEntry | null }> {
    const current = this.owners.get(gatewayId);
    const previous = current !== undefined && this.isAlive(current.nodeId) ? { ...current } : null;
    const generation = (this.lastGeneration.get(gatewayId) ?? 0) + 1;
    this.lastGeneration.set(gatewayId, generation);
    this.owners.set(gatewayId, { nodeId, generation });
    return { generation, previous };
  }

  /** Drops the claim only when it is still this node's and this generation. */
  async release(gatewayId: string, nodeId: string, generation: number): Promise<boolean> {
    const current = this.owners.get(gatewayId);
    if (current === undefined || current.nodeId !== nodeId || current.generation !== generation) return false;
    this.owners.delete(gatewayId);
    return true;
  }

  /** The owner, or null when none holds the gateway or its node's heartbeat lapsed. */
  async lookup(gatewayId: string): Promise<PresenceEntry | null> {
    const current = this.owners.get(gatewayId);
    if (current === undefined || !this.isAlive(current.nodeId)) return null;
    return { ...current };
  }

  /** Marks a node alive for ttlMs from now. */
  async heartbeat(nodeId: string, ttlMs: number): Promise<boolean> {
    const wasAlive = this.isAlive(nodeId);
    this.beats.set(nodeId, { at: this.now(), ttlMs });
    return wasAlive;
  }

  /** How many gateways a live node holds; a dead node holds none. */
  async countOwnedBy(nodeId: string): Promise<number> {
    if (!this.isAlive(nodeId)) return 0;
    let count = 0;
    for (const entry of this.owners.values()) if (entry.nodeId === nodeId) count += 1;
    return count;
  }

  /** Every node whose heartbeat has not lapsed, with its gateway count and whether it beat recently. */
  async liveNodes(): Promise<NodeLoad[]> {
    const now = this.now();
    const live = [...this.beats].filter(([nodeId]) => this.isAlive(nodeId)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Promise.all(
      live.map(async ([nodeId, beat]) => ({ nodeId, gateways: await this.countOwnedBy(nodeId), fresh: isRecentBeat(now - beat.at, beat.ttlMs) })),
    );
  }

  /** The gateways a live node holds. */
  async ownedBy(nodeId: string): Promise<string[]> {
    if (!this.isAlive(nodeId)) return [];
    return [...this.owners].filter(([, e]) => e.nodeId === nodeId).map(([g]) => g).sort();
  }

  /** Keeps the details only while this generation is the gateway's current one. */
  async describe(gatewayId: string, generation: number, details: ConnectionDetails): Promise<void> {
    if (this.owners.get(gatewayId)?.generation !== generation) return;
    this.connections.set(gatewayId, { generation, details: { ...details } });
  }

  /** The live owner and the details recorded for its generation. */
  async details(gatewayId: string): Promise<{ owner: PresenceEntry; details: ConnectionDetails | null } | null> {
    const owner = await this.lookup(gatewayId);
    if (owner === null) return null;
    const recorded = this.connections.get(gatewayId);
    return { owner, details: recorded?.generation === owner.generation ? { ...recorded.details } : null };
  }

  /** Nothing to release. */
  async close(): Promise<void> {}

  private isAlive(nodeId: string): boolean {
    const beat = this.beats.get(nodeId);
    return beat !== undefined && beat.at + beat.ttlMs > this.now();
  }
}
