/** One measured figure of a run, for the relay and the peer, with its ratio and the target for it. */

/** A target: on the ratio relay/peer, or on the relay's own value. */
export interface Target {
  on: 'ratio' | 'value';
  /** The relay must be at most (`max`) or at least (`min`) `limit`. */
  bound: 'max' | 'min';
  limit: number;
}

/** A figure as printed and stored (one JSON line each). */
export interface Figure {
  scenario: string;
  metric: string;
  unit: string;
  relay: number | null;
  peer: number | null;
  target?: Target;
  /** Context: sizes, what the number counts, per-command Redis breakdown. */
  note?: string;
}

/** A figure with what is derived from it. */
export interface FigureLine extends Figure {
  /** relay / peer, when both are positive numbers. */
  ratio: number | null;
  /** Whether the target holds; null when there is none or it could not be measured. */
  met: boolean | null;
}

/** relay / peer, or null when it means nothing (missing, zero, not finite). */
export function ratioOf(relay: number | null, peer: number | null): number | null {
  if (relay === null || peer === null || !Number.isFinite(relay) || !Number.isFinite(peer) || peer === 0) return null;
  return relay / peer;
}

/** Whether a figure meets its target. */
export function targetMet(f: Figure): boolean | null {
  if (!f.target) return null;
  const x = f.target.on === 'ratio' ? ratioOf(f.relay, f.peer) : f.relay;
  if (x === null || !Number.isFinite(x)) return false;
  return f.target.bound === 'max' ? x <= f.target.limit : x >= f.target.limit;
}

/** Adds ratio and met. */
export function complete(f: Figure): FigureLine {
  return { ...f, ratio: ratioOf(f.relay, f.peer), met: targetMet(f) };
}

/** "≤ 1.0× peer", "≤ 20 ms". */
export function describeTarget(t: Target, unit: string): string {
  const op = t.bound === 'max' ? '≤' : '≥';
  return t.on === 'ratio' ? `${op} ${t.limit}× peer` : `${op} ${formatNumber(t.limit)} ${unit}`.trim();
}

/** Compact number: 3 significant digits, thousands separated. */
export function formatNumber(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '–';
  const abs = Math.abs(x);
  if (abs >= 1000) return Math.round(x).toLocaleString('en-US');
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  if (abs === 0) return '0';
  return x.toPrecision(2);
}

/** "0.18×". */
export function formatRatio(r: number | null): string {
  if (r === null) return '–';
  return `${r >= 10 ? r.toFixed(0) : r >= 1 ? r.toFixed(1) : r.toFixed(2)}×`;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Smallest value (Math.min(...xs) overflows the stack on a few hundred thousand values). */
export function minOf(xs: Iterable<number>): number {
  let m = Number.POSITIVE_INFINITY;
  for (const x of xs) if (x < m) m = x;
  return m;
}

/** Largest value; see minOf. */
export function maxOf(xs: Iterable<number>): number {
  let m = Number.NEGATIVE_INFINITY;
  for (const x of xs) if (x > m) m = x;
  return m;
}
