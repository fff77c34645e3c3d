import type { BusMessage } from '../node-bus.js';

/** Encodes a bus message for the wire. */
export function encodeBusMessage(message: BusMessage): string {
  return JSON.stringify(message);
}

/**
 * Decodes and checks a message from another node. Anything malformed (a bug or a foreign publisher on
 * the channel) yields null so the caller can drop it instead of throwing in a Redis event handler.
 */
export function decodeBusMessage(raw: string): BusMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const m = value as Record<string, unknown>;
  if (m.kind === 'drain' && typeof m.by === 'string') return { kind: 'drain', by: m.by };
  if (m.kind === 'wake-many' && isFiniteNumber(m.sentAt) && Array.isArray(m.gatewayIds)) {
    const gatewayIds = m.gatewayIds.filter((id): id is string => typeof id === 'string');
    return gatewayIds.length === m.gatewayIds.length && gatewayIds.length > 0 ? { kind: 'wake-many', gatewayIds, sentAt: m.sentAt } : null;
  }
  if (typeof m.gatewayId !== 'string') return null;
  if (m.kind === 'redeliver' && typeof m.by === 'string' && (m.afterId === null || typeof m.afterId === 'string')) {
    return { kind: 'redeliver', gatewayId: m.gatewayId, afterId: m.afterId, by: m.by };
  }
  if (m.kind === 'wake' && isFiniteNumber(m.sentAt)) {
    return { kind: 'wake', gatewayId: m.gatewayId, sentAt: m.sentAt };
  }
  if (m.kind === 'superseded' && isFiniteNumber(m.generation)) {
    return { kind: 'superseded', gatewayId: m.gatewayId, generation: m.generation };
  }
  return null;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
