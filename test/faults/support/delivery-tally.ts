import type { SentMessage } from './inbound-load.js';
import type { ResilientGateway } from './resilient-gateway.js';

/** The figures the issue asks every scenario to print. */
export interface DeliveryTally {
  sent: number;
  /** Distinct sent messages that reached the gateway their user is bound to. */
  delivered: number;
  lost: number;
  /** Extra copies the application saw, on gateways that acknowledge (must be 0). */
  duplicates: number;
  /** Extra copies on legacy gateways (allowed around a crash; counted, not asserted). */
  legacyDuplicates: number;
  /** First deliveries that arrived after a later message of the same user. */
  outOfOrder: number;
  /** Deliveries to a gateway the user is not bound to. */
  misrouted: number;
  /** A few lost msgids with user and seq, to start an investigation from. */
  lostSample: string[];
  /** A few out-of-order arrivals (user: seq after seq). */
  disorderSample: string[];
  /** Longest time from a message being written to its first arrival at the gateway, and which message that was. */
  longestDelivery: { ms: number; what: string };
}

/**
 * Compares what the load sent with what each gateway's application saw. Order is judged on first arrivals
 * (a redelivered copy is a duplicate, not a reordering), per user, against the order the user wrote in.
 */
export function tallyDeliveries(sent: readonly SentMessage[], gateways: readonly ResilientGateway[]): DeliveryTally {
  const byId = new Map(sent.map((m) => [m.msgid, m]));
  const ackGateway = new Map(gateways.map((g) => [g.gatewayId, g.ackCapable]));
  const copies = new Map<string, number>();
  const highestSeq = new Map<string, number>();
  let outOfOrder = 0;
  let misrouted = 0;
  const disorderSample: string[] = [];
  const longestDelivery = { ms: 0, what: '-' };
  for (const gateway of gateways) {
    for (const message of gateway.appInbound()) {
      const expected = byId.get(message.id);
      if (!expected) continue;
      if (expected.gatewayId !== gateway.gatewayId) {
        misrouted += 1;
        continue;
      }
      const n = (copies.get(message.id) ?? 0) + 1;
      copies.set(message.id, n);
      if (n > 1) continue;
      const took = (gateway.arrivalOf(message.raw) ?? Date.now()) - expected.sentAt;
      if (took > longestDelivery.ms) {
        longestDelivery.ms = took;
        longestDelivery.what = `${expected.user} #${expected.seq} written at ${new Date(expected.sentAt).toISOString()}`;
      }
      const highest = highestSeq.get(expected.user) ?? -1;
      if (expected.seq < highest) {
        outOfOrder += 1;
        if (disorderSample.length < 5) disorderSample.push(`${expected.user}: #${expected.seq} after #${highest}`);
      } else {
        highestSeq.set(expected.user, expected.seq);
      }
    }
  }
  let duplicates = 0;
  let legacyDuplicates = 0;
  const lostSample: string[] = [];
  for (const message of sent) {
    const n = copies.get(message.msgid) ?? 0;
    if (n === 0 && lostSample.length < 5) lostSample.push(`${message.msgid} (${message.user} #${message.seq} → ${message.gatewayId})`);
    if (n > 1) {
      if (ackGateway.get(message.gatewayId)) duplicates += n - 1;
      else legacyDuplicates += n - 1;
    }
  }
  const delivered = sent.filter((m) => (copies.get(m.msgid) ?? 0) > 0).length;
  return {
    sent: sent.length,
    delivered,
    lost: sent.length - delivered,
    duplicates,
    legacyDuplicates,
    outOfOrder,
    misrouted,
    lostSample,
    disorderSample,
    longestDelivery,
  };
}

/** True once every sent message reached its gateway at least once. */
export function allDelivered(sent: readonly SentMessage[], gateways: readonly ResilientGateway[]): boolean {
  const seen = new Set<string>();
  for (const gateway of gateways) for (const m of gateway.appInbound()) seen.add(m.id);
  return sent.every((m) => seen.has(m.msgid));
}

/** The scenario's one line: `[fault] kill-loop: sent 240 delivered 240 lost 0 dup 0 ... nodes healthy`. */
export function faultLine(scenario: string, t: DeliveryTally, health: string, extra: Record<string, string | number> = {}): string {
  const details = Object.entries(extra).map(([k, v]) => `${k} ${v}`);
  return (
    `[fault] ${scenario}: sent ${t.sent} delivered ${t.delivered} lost ${t.lost} dup ${t.duplicates} ` +
    `(legacy dup ${t.legacyDuplicates}) out-of-order ${t.outOfOrder} misrouted ${t.misrouted}; ` +
    `longest delivery ${t.longestDelivery.ms} ms` +
    (details.length > 0 ? `; ${details.join(', ')}` : '') +
    `; ${health}`
  );
}
