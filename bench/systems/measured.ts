/** The processes of one benchmark run and their CPU/RSS, sampled together. */
import { measure, type ProcessSelector, type Usage } from '../lib/proc-stat.js';

/** What a process is in the run. */
export type Role = 'node' | 'redis' | 'fake-wecom' | 'driver' | 'bench';

/** A measured process (or process group). */
export interface Measured {
  name: string;
  role: Role;
  /** For Redis Cluster processes: the shard (its master's address). */
  shard?: string;
  /** A Redis Cluster replica (its CPU is replication, not serving). */
  replica?: boolean;
  selector: ProcessSelector;
}

/** Usage of every measured process at one instant. */
export interface Sample {
  at: number;
  usage: Map<string, Usage>;
}

/** Samples all the given processes. */
export function sample(targets: readonly Measured[]): Sample {
  const usage = measure(targets.map((t) => t.selector));
  return { at: Date.now(), usage: new Map(targets.map((t, i) => [t.name, usage[i]!])) };
}

/** CPU µs spent between two samples by the targets matching `pick`. */
export function cpuBetween(before: Sample, after: Sample, targets: readonly Measured[], pick: (t: Measured) => boolean): number {
  let us = 0;
  for (const t of targets) {
    if (!pick(t)) continue;
    const b = before.usage.get(t.name)?.cpuUs ?? 0;
    const a = after.usage.get(t.name)?.cpuUs ?? 0;
    // A process killed in between reads 0 afterwards: its CPU up to the kill is unknown, so it counts as 0.
    us += Math.max(0, a - b);
  }
  return us;
}
