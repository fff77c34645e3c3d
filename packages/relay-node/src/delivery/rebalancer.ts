import type { Logger } from 'pino';
import type { NodeLoad, PresenceMap } from '../state/presence-map.js';

/** Settings of {@link Rebalancer}; `maxPerInterval` 0 turns it off. */
export interface RebalanceSettings {
  intervalMs: number;
  /** Sockets one node closes per interval at most. */
  maxPerInterval: number;
  /** How far above the cluster average (in percent) a node may be before it sheds. */
  tolerancePercent: number;
}

/** Options for {@link Rebalancer}. */
export interface RebalancerOptions extends RebalanceSettings {
  nodeId: string;
  presence: Pick<PresenceMap, 'liveNodes'>;
  /** Gateways attached to this node right now. */
  localCount: () => number;
  /** Closes up to n sockets with 1012 (the gateways reconnect through the balancer); how many were closed. */
  shed: (n: number) => number;
  logger: Logger;
  onShed?: (n: number) => void;
  /** Clock for how long a falling node stays left out (countedLoads); default Date.now. */
  now?: () => number;
}

/**
 * How many sockets a node holding `mine` of the cluster's gateways should close this round: none while it is within
 * the tolerance above the average (or at the average rounded up), else the excess over the rounded-up average,
 * at most `maxPerInterval`. Only the fullest nodes shed; a new node fills as the balancer sends it the reconnects.
 */
export function shedCount(mine: number, loads: readonly number[], s: Pick<RebalanceSettings, 'maxPerInterval' | 'tolerancePercent'>): number {
  if (loads.length < 2 || s.maxPerInterval <= 0) return 0;
  const average = loads.reduce((a, b) => a + b, 0) / loads.length;
  const fair = Math.ceil(average);
  if (mine <= Math.max(fair, average * (1 + s.tolerancePercent / 100))) return 0;
  return Math.min(s.maxPerInterval, mine - fair);
}

/**
 * How long a node whose count fell stays left out while its count holds: two heartbeats, as long as a killed node's
 * last beat still counts as recent (presence-map.ts isRecentBeat), after which it is left out as stale anyway.
 */
export const FALLING_HOLD_MS = 10_000;

/** Another node's count as one round saw it, and when a round last saw it fall (null: not falling). */
export interface SeenLoad {
  gateways: number;
  fellAt: number | null;
}

/**
 * The other nodes' loads that count toward the average this round, and what to remember for the next. A node below
 * the average whose count fell since the previous round, or has held since falling within {@link FALLING_HOLD_MS},
 * is left out: it is losing gateways, not taking them. Most often it was killed outright and its gateways are
 * reconnecting to the others while its last beat still looks recent; counted, its emptying share drags the average
 * down and every survivor sheds sockets toward a node that cannot take them. Leaving out a node below the average only
 * raises the average, so this can hold shedding back, never cause it; a live node counts again once it grows or the
 * hold passes.
 */
export function countedLoads(
  mine: number,
  others: readonly NodeLoad[],
  previous: ReadonlyMap<string, SeenLoad>,
  now: number,
): { loads: number[]; seen: Map<string, SeenLoad> } {
  const all = [mine, ...others.map((n) => n.gateways)];
  const average = all.reduce((a, b) => a + b, 0) / all.length;
  const loads = [mine];
  const seen = new Map<string, SeenLoad>();
  for (const n of others) {
    const before = previous.get(n.nodeId);
    const held = before?.fellAt != null && n.gateways === before.gateways && now - before.fellAt <= FALLING_HOLD_MS;
    const fellAt = before && n.gateways < before.gateways ? now : held ? (before?.fellAt ?? null) : null;
    seen.set(n.nodeId, { gateways: n.gateways, fellAt });
    if (fellAt === null || n.gateways >= average) loads.push(n.gateways);
  }
  return { loads, seen };
}

/**
 * Gradual rebalancing: every interval, compares this node's gateway count with the average over the nodes whose
 * heartbeat is recent (the presence map's heartbeat data) and closes a bounded number of sockets (1012, "reconnect")
 * when above it. Events stay queued while a gateway moves, so nothing is lost; ack-mode gateways resume after their
 * last acknowledgement.
 */
export class Rebalancer {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** Each other node's count at the previous round (only the nodes seen then, so it stays as small as the cluster). */
  private previous = new Map<string, SeenLoad>();

  constructor(private readonly o: RebalancerOptions) {}

  /** Starts the periodic check (nothing when turned off). */
  start(): void {
    if (this.o.maxPerInterval <= 0 || this.o.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.o.intervalMs);
    this.timer.unref();
  }

  /** Stops it; idempotent. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round; resolves to how many sockets were closed. */
  async tick(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      // A node that stopped beating (killed outright) stays live until its ttl runs out; it stops being fresh two
      // beats after its last, and until then countedLoads leaves it out from the round its count starts falling.
      const others = (await this.o.presence.liveNodes()).filter((n) => n.fresh && n.nodeId !== this.o.nodeId);
      // This node's own load is its live count, fresher than the shared one, whatever its own beat says.
      const mine = this.o.localCount();
      const { loads, seen } = countedLoads(mine, others, this.previous, (this.o.now ?? Date.now)());
      this.previous = seen;
      const n = shedCount(mine, loads, this.o);
      if (n === 0) return 0;
      const closed = this.o.shed(n);
      this.o.onShed?.(closed);
      const average = loads.reduce((a, b) => a + b, 0) / loads.length;
      this.o.logger.info({ closed, gateways: mine, average: Number(average.toFixed(2)), nodes: loads.length }, 'rebalancing: closed sockets (1012) above the cluster average');
      return closed;
    } catch (err) {
      this.o.logger.warn({ err }, 'rebalancing check failed');
      return 0;
    } finally {
      this.running = false;
    }
  }
}
