/** The open-file limit: one socket per gateway, and the 19,000-gateway node needs nearly 20,000. */
import { readFileSync } from 'node:fs';

/** Parses the "Max open files" line of /proc/<pid>/limits: [soft, hard] (Infinity for unlimited). */
export function parseOpenFileLimits(limits: string): [number, number] {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  if (!m) throw new Error('no "Max open files" line in limits');
  const n = (s: string): number => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return [n(m[1]!), n(m[2]!)];
}

/** This process's [soft, hard] open-file limits. */
export function openFileLimits(): [number, number] {
  return parseOpenFileLimits(readFileSync('/proc/self/limits', 'utf8'));
}
