import { compareQueueIds, isQueuedEvent, type AppendedRun, type QueuedItem } from '../delivery-queue.js';
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
    if (gatewayIds.length !== m.gatewayIds.length || gatewayIds.length === 0) return null;
    const runs = decodeRuns(m.runs, gatewayIds);
    return { kind: 'wake-many', gatewayIds, sentAt: m.sentAt, ...(runs ? { runs } : {}) };
  }
  if (typeof m.gatewayId !== 'string') return null;
  if (m.kind === 'redeliver' && typeof m.by === 'string' && (m.afterId === null || typeof m.afterId === 'string')) {
    return { kind: 'redeliver', gatewayId: m.gatewayId, afterId: m.afterId, by: m.by };
  }
  if (m.kind === 'wake' && isFiniteNumber(m.sentAt)) {
    const run = m.run === undefined ? null : decodeRun(m.run);
    return { kind: 'wake', gatewayId: m.gatewayId, sentAt: m.sentAt, ...(run ? { run } : {}) };
  }
  if (m.kind === 'superseded' && isFiniteNumber(m.generation)) {
    return { kind: 'superseded', gatewayId: m.gatewayId, generation: m.generation };
  }
  return null;
}

// A queue id as the stores issue them: a canonical decimal, or two joined by a dash (a Redis stream id).
const QUEUE_ID = /^(0|[1-9][0-9]{0,19})(-(0|[1-9][0-9]{0,19}))?$/;

/**
 * The runs of a wake-many, by gateway, keeping only well-formed ones of gateways it names: a run that is not is left
 * out, and its gateway's queue is read as for a wake-up without one.
 */
function decodeRuns(value: unknown, gatewayIds: readonly string[]): Record<string, AppendedRun> | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const out: Record<string, AppendedRun> = {};
  let any = false;
  for (const gatewayId of gatewayIds) {
    if (!Object.hasOwn(value, gatewayId)) continue;
    const run = decodeRun((value as Record<string, unknown>)[gatewayId]);
    if (run) {
      out[gatewayId] = run;
      any = true;
    }
  }
  return any ? out : null;
}

/** A run whose ids are queue ids, each past the one before (and past `after`), and whose events have a type. */
function decodeRun(value: unknown): AppendedRun | null {
  if (typeof value !== 'object' || value === null) return null;
  const { after, items } = value as { after?: unknown; items?: unknown };
  if (!(after === null || (typeof after === 'string' && QUEUE_ID.test(after))) || !Array.isArray(items) || items.length === 0) return null;
  const run: AppendedRun = { after, items: [] };
  let last = after;
  for (const raw of items as unknown[]) {
    if (typeof raw !== 'object' || raw === null) return null;
    const { id, event, enqueuedAt } = raw as { id?: unknown; event?: unknown; enqueuedAt?: unknown };
    if (typeof id !== 'string' || !QUEUE_ID.test(id) || (last !== null && compareQueueIds(id, last) <= 0)) return null;
    if (!isQueuedEvent(event) || !isFiniteNumber(enqueuedAt)) return null;
    const item: QueuedItem = { id, event, enqueuedAt };
    run.items.push(item);
    last = id;
  }
  return run;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
