import type { KfMessage } from '@wecom-relay/shared';
import type { DecisionPlacement } from '../state/dedup-store.js';
import { DEFAULT_QUEUE_DEDUP_TTL_MS } from '../state/delivery-queue.js';

/** Routing decisions live as long as the queue remembers a msgid: WeCom's re-pull horizon. */
export const ROUTE_DECISION_TTL_MS = DEFAULT_QUEUE_DEDUP_TTL_MS;
/** The decision for a message from a user bound to no gateway. */
export const UNBOUND = '-';
/** The decision for a text that was a binding token and went to the binding flow. */
export const BINDING_EVENT = '#';

/** Where a msgid's routing decision is kept in the dedup store. */
export function routeDecisionKey(msgid: string): string {
  return `r:${msgid}`;
}

/** The decision that routes a message to a gateway: one short string, `>` + the gateway id. */
export function gatewayDecision(gatewayId: string): string {
  return `>${gatewayId}`;
}

/**
 * Whether the decision says its message was queued in the same step as the decision was taken: `=` + the gateway id,
 * written on one Redis server by the route appender (redis-route-appender.ts). Standing, it means the message is in
 * that gateway's queue already, with no queue dedup marker, so a page pulled again appends nothing. A relay of the
 * previous version reads it as no gateway and drops the message it pulled again as from an unbound user: it is
 * queued already, so nothing is lost or doubled.
 */
export function isQueuedDecision(decision: string): boolean {
  return decision.startsWith('=');
}

/** The gateway a decision routes to, or null for {@link UNBOUND} and {@link BINDING_EVENT}. */
export function decidedGateway(decision: string): string | null {
  return decision.startsWith('>') || decision.startsWith('=') ? decision.slice(1) : null;
}

/**
 * Where a message's records are placed: its WeCom send_time, the same on every pull of it. None when WeCom gave none
 * (the records are then kept one per key, as a relay before packing kept them all).
 */
export function placementOf(message: Pick<KfMessage, 'send_time'>): DecisionPlacement | undefined {
  const at = Number(message.send_time);
  return Number.isFinite(at) && at > 0 ? { at: Math.floor(at) } : undefined;
}
