import type { QueuedEvent } from '@wecom-relay/shared';
import { compareQueueIds, type AppendedRun, type QueuedItem } from '../state/delivery-queue.js';

/** Most items a gateway keeps offered; a longer run is dropped and its items read from the queue. */
export const MAX_OFFERED_ITEMS = 256;

/**
 * Adds a run offered by a wake-up to what a gateway holds offered: appended when it follows on (its `after` is the
 * last item offered), else it replaces what was offered (a run that follows nothing the drain can use costs one queue
 * read, never an item). Null when the result would hold more than {@link MAX_OFFERED_ITEMS}.
 */
export function offerRun(held: AppendedRun | null, run: AppendedRun): AppendedRun | null {
  if (run.items.length === 0) return held;
  const last = held === null ? undefined : (held.items.at(-1)?.id ?? held.after);
  const joined = held !== null && last !== undefined && last === run.after ? { after: held.after, items: [...held.items, ...run.items] } : run;
  return joined.items.length > MAX_OFFERED_ITEMS ? null : joined;
}

/**
 * What a drain whose pointer stands at `pointer` can take from an offered run, at most `limit` items, and what stays
 * offered. The run is what a read after the pointer returns, as of its append, only when the queue held nothing past the
 * pointer then: its `after` is null or not past the pointer (items up to the pointer were written, and the ones deleted
 * since, acknowledged or trimmed, a read skips as well). Items up to the pointer (written after a read that raced the
 * wake-up) are passed over. `items` null: the run cannot serve this pointer, or holds nothing past it, and the drain
 * reads the queue.
 */
export function takeFromRun(run: AppendedRun, pointer: string | null, limit: number): { items: QueuedItem[] | null; rest: AppendedRun | null } {
  if (run.after !== null && (pointer === null || compareQueueIds(run.after, pointer) > 0)) return { items: null, rest: null };
  let start = 0;
  if (pointer !== null) while (start < run.items.length && compareQueueIds(run.items[start]!.id, pointer) <= 0) start++;
  if (start === run.items.length) return { items: null, rest: null };
  const items = run.items.slice(start, start + limit);
  const rest = run.items.slice(start + items.length);
  return { items, rest: rest.length > 0 ? { after: items.at(-1)!.id, items: rest } : null };
}

/**
 * Gathers, by gateway, the items one routing step appended, in the order it appended them, into the run each gateway's
 * wake-up carries. A gateway whose items do not follow on one from the next (appended apart, with something of
 * another's between) gets no run: its owner reads its queue.
 */
export class AppendedRuns {
  private readonly runs = new Map<string, AppendedRun | null>();

  /** An item appended for `gatewayId`; `appended` as the store reported it (undefined: it did not, and no run goes). */
  add(gatewayId: string, id: string, event: QueuedEvent, appended: { after: string | null; enqueuedAt: number } | undefined): void {
    const run = this.runs.get(gatewayId);
    if (run === null) return;
    if (appended === undefined) {
      this.runs.set(gatewayId, null);
      return;
    }
    const item = { id, event, enqueuedAt: appended.enqueuedAt };
    if (run === undefined) this.runs.set(gatewayId, { after: appended.after, items: [item] });
    else if (run.items.at(-1)!.id === appended.after && run.items.length < MAX_OFFERED_ITEMS) run.items.push(item);
    else this.runs.set(gatewayId, null);
  }

  /** The runs of the gateways whose items all follow on. */
  complete(): Map<string, AppendedRun> {
    const out = new Map<string, AppendedRun>();
    for (const [gatewayId, run] of this.runs) if (run !== null) out.set(gatewayId, run);
    return out;
  }
}
