/**
 * A phase measured several times (`pnpm bench --rounds N`): one reading per figure, the median of the rounds, so one
 * run disturbed by the machine moves the record less; the rounds' values stay in the note.
 */
import { formatNumber } from './figures.js';
import type { Reading } from '../scenarios/scenario-context.js';

/** The median of the values (the mean of the middle two when their number is even); null when there are none. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * One reading per figure of the rounds (a figure a round did not measure counts as missing there): the median of
 * the values, or for a figure marked `acrossRounds: 'worst'` the worst of them by its target (the least for an at-least
 * target, the most for an at-most one); the first round's unit, target and note, and the rounds' values after the
 * note. One round is returned as it is.
 */
export function medianOfRounds(rounds: readonly Reading[][]): Reading[] {
  if (rounds.length === 1) return [...rounds[0]!];
  const key = (r: Reading): string => `${r.scenario}\u0000${r.metric}`;
  const first = new Map<string, Reading>();
  for (const round of rounds) for (const r of round) if (!first.has(key(r))) first.set(key(r), r);
  return [...first.entries()].map(([k, base]) => {
    const values = rounds.map((round) => round.find((r) => key(r) === k)?.value ?? null);
    const measured = values.filter((v): v is number => v !== null && Number.isFinite(v));
    const each = values.map((v) => (v === null ? '–' : formatNumber(v))).join(', ');
    const worst = base.acrossRounds === 'worst' && base.target !== undefined ? base.target.bound : null;
    const value = worst === null ? median(measured) : measured.length === 0 ? null : worst === 'min' ? Math.min(...measured) : Math.max(...measured);
    const about = `${worst === null ? 'median' : 'worst'} of ${rounds.length} rounds (${each})`;
    return { ...base, value, note: base.note ? `${base.note}; ${about}` : about };
  });
}
