/** A fault to inject on the next calls of one API. */
export interface FaultSpec {
  /** API path, e.g. "kf/sync_msg" or "/cgi-bin/kf/sync_msg". */
  path: string;
  /** Answer this errcode (HTTP 200, as WeCom does). */
  errcode?: number;
  /** With `errcode`: this errmsg instead of the usual one (WeCom's errmsg names the caller's IP: test it stays hidden). */
  errmsg?: string;
  /** Answer this HTTP status with a non-JSON body, as a broken proxy would. */
  httpStatus?: number;
  /** Wait this long before answering (or before handling, unless `after`). */
  delayMs?: number;
  /** Destroy the socket without an answer. */
  dropConnection?: boolean;
  /** Handle the call for real first (side effects happen), then replace the answer: "the response was lost". */
  after?: boolean;
  /** How many matching calls it affects; default 1. */
  times?: number;
}

/** Normalises an API path to WeCom's name for it: "kf/sync_msg". */
export function apiName(path: string): string {
  return path.replace(/^\/+/, '').replace(/^cgi-bin\//, '').replace(/\?.*$/, '');
}

/** Throws RangeError for a spec that would do nothing sensible. */
function checkFault(spec: FaultSpec): void {
  if (typeof spec !== 'object' || spec === null) throw new RangeError('a fault is an object');
  const times = spec.times ?? 1;
  if (!Number.isInteger(times) || times < 1) throw new RangeError('times must be a positive integer');
  if (typeof spec.path !== 'string' || spec.path === '') throw new RangeError('path is required');
  if (spec.errcode !== undefined && !Number.isInteger(spec.errcode)) throw new RangeError('errcode must be an integer');
  if (spec.errmsg !== undefined && (typeof spec.errmsg !== 'string' || spec.errcode === undefined)) {
    throw new RangeError('errmsg must be a string, given with errcode');
  }
  if (spec.httpStatus !== undefined && !(Number.isInteger(spec.httpStatus) && spec.httpStatus >= 100 && spec.httpStatus <= 599)) {
    throw new RangeError('httpStatus must be 100-599');
  }
  if (spec.delayMs !== undefined && !(typeof spec.delayMs === 'number' && spec.delayMs >= 0 && spec.delayMs <= 120_000)) {
    throw new RangeError('delayMs must be 0-120000');
  }
  for (const flag of ['dropConnection', 'after'] as const) {
    if (spec[flag] !== undefined && typeof spec[flag] !== 'boolean') throw new RangeError(`${flag} must be a boolean`);
  }
}

/** Faults queued per API, consumed first in first out, `times` calls each. */
export class FaultQueue {
  readonly #queues = new Map<string, { spec: FaultSpec; left: number }[]>();

  /** Queues faults, all or none; throws RangeError for a spec that would do nothing sensible. */
  add(...specs: FaultSpec[]): void {
    specs.forEach(checkFault);
    for (const spec of specs) {
      const api = apiName(spec.path);
      const queue = this.#queues.get(api) ?? [];
      queue.push({ spec: { ...spec, path: api }, left: spec.times ?? 1 });
      this.#queues.set(api, queue);
    }
  }

  /** Takes the fault that applies to this call, if any. */
  take(api: string): FaultSpec | null {
    const queue = this.#queues.get(api);
    const head = queue?.[0];
    if (!queue || !head) return null;
    head.left--;
    if (head.left <= 0) queue.shift();
    return head.spec;
  }

  /** Faults still queued. */
  pending(): FaultSpec[] {
    return [...this.#queues.values()].flatMap((q) => q.map((e) => ({ ...e.spec, times: e.left })));
  }

  /** Drops every queued fault. */
  clear(): void {
    this.#queues.clear();
  }
}
