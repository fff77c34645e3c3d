/** Gateways remembered by default: a pulling node routes for every gateway of the cluster, at about 100 bytes each. */
const DEFAULT_MAX_GATEWAYS = 65_536;

/**
 * The id this node last appended to each gateway's queue, so the route script can confirm a queue's tail with a read
 * that returns nothing (`XREVRANGE <stream> + (<id> COUNT 1`) instead of reading its last entry, event and all. What this
 * node does not know, or knows wrongly (another node appended since), costs the read of the last entry as before: the
 * script checks every id it is given.
 */
export class StreamTails {
  /** Last appended id by gateway, the one appended to longest ago first. */
  private readonly ids = new Map<string, string>();

  constructor(private readonly maxGateways = DEFAULT_MAX_GATEWAYS) {}

  /** The id this node last appended to the gateway's queue, '' where it knows none. */
  known(gatewayId: string): string {
    return this.ids.get(gatewayId) ?? '';
  }

  /** This node appended `id` to the gateway's queue. */
  appended(gatewayId: string, id: string): void {
    this.ids.delete(gatewayId);
    this.ids.set(gatewayId, id);
    if (this.ids.size > this.maxGateways) this.ids.delete(this.ids.keys().next().value!);
  }

  /** How many gateways are remembered. */
  get size(): number {
    return this.ids.size;
  }
}
