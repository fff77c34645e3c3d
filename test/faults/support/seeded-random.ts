import { randomInt } from 'node:crypto';

/** A small deterministic random source, so a failing fault run can be replayed with the seed it printed. */
export interface SeededRandom {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max). */
  int(min: number, max: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** True with probability p. */
  chance(p: number): boolean;
  /** n random bytes. */
  bytes(n: number): Buffer;
}

/** A generator seeded with `seed` (mulberry32: tiny, fast and good enough to pick faults). */
export function seededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (min: number, max: number): number => min + Math.floor(next() * (max - min));
  return {
    seed,
    next,
    int,
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[int(0, items.length)] as T;
    },
    chance: (p) => next() < p,
    bytes(n) {
      const out = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) out[i] = int(0, 256);
      return out;
    },
  };
}

/** The seed of this run: FAULT_SEED when set (to replay a run), else a fresh one. */
export function faultSeed(env: NodeJS.ProcessEnv = process.env): number {
  const fixed = env.FAULT_SEED;
  if (fixed !== undefined && fixed !== '') {
    const parsed = Number.parseInt(fixed, 10);
    if (Number.isSafeInteger(parsed)) return parsed >>> 0;
  }
  return randomInt(0, 2 ** 31);
}
