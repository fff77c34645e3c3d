/**
 * CPU time and resident memory of processes, read from Linux's /proc: what every figure of `pnpm bench` is made of.
 * A spawned service is a process group (testkit's guard, the runtime, helpers), so its CPU is the group's sum and
 * its RSS the largest member's (the guard is a second, idle Node process that must not count as the service's memory).
 */
import { readFileSync, readdirSync } from 'node:fs';

/** The fields of /proc/<pid>/stat the bench uses. */
export interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  /** User + system CPU time in clock ticks. */
  cpuTicks: number;
  /** Resident pages. */
  rssPages: number;
}

/** Linux's USER_HZ: /proc reports CPU time in these ticks (100 on every mainstream kernel build). */
export const CLOCK_TICKS_PER_SECOND = 100;
/** Page size for RSS pages (4 KiB on x86-64 and the usual arm64 kernels). */
export const PAGE_BYTES = 4096;

/**
 * Parses one /proc/<pid>/stat line. The command name (field 2) is in parentheses and may itself contain spaces and
 * parentheses, so the fields are counted from the last ')'.
 */
export function parseProcStat(line: string): ProcStat {
  const close = line.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc stat line: ${line.slice(0, 80)}`);
  const pid = Number(line.slice(0, line.indexOf(' ')));
  // After ')': state(3) ppid(4) pgrp(5) ... utime(14) stime(15) ... rss(24); rest[0] is field 3.
  const rest = line.slice(close + 2).trim().split(/\s+/);
  const field = (n: number): number => Number(rest[n - 3]);
  return { pid, ppid: field(4), pgrp: field(5), cpuTicks: field(14) + field(15), rssPages: field(24) };
}

/** One process's stat, or null when it is gone. */
export function readProcStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Every live process's stat (processes that vanish while being read are skipped). */
export function readAllProcStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readProcStat(Number(name));
    if (stat) out.push(stat);
  }
  return out;
}

/** CPU and memory of one measured thing at one instant. */
export interface Usage {
  /** CPU time consumed so far, in microseconds. */
  cpuUs: number;
  /** Resident memory in bytes (largest process of a group). */
  rssBytes: number;
}

/** Sums CPU and takes the largest RSS over the given processes. */
export function usageOf(stats: readonly ProcStat[]): Usage {
  let ticks = 0;
  let rss = 0;
  for (const s of stats) {
    ticks += s.cpuTicks;
    rss = Math.max(rss, s.rssPages);
  }
  return { cpuUs: (ticks * 1_000_000) / CLOCK_TICKS_PER_SECOND, rssBytes: rss * PAGE_BYTES };
}

/** What to measure: a single process (pid) or a whole process group (pgid). */
export type ProcessSelector = { pid: number } | { pgid: number };

/** Usage of each selector from one scan of /proc (zero when the process is gone, e.g. after a SIGKILL). */
export function measure(selectors: readonly ProcessSelector[]): Usage[] {
  const needGroups = selectors.some((s) => 'pgid' in s);
  const all = needGroups ? readAllProcStats() : [];
  return selectors.map((s) => {
    if ('pid' in s) {
      const stat = readProcStat(s.pid);
      return usageOf(stat ? [stat] : []);
    }
    return usageOf(all.filter((p) => p.pgrp === s.pgid));
  });
}
