/**
 * Reading valgrind callgrind's output, for counting what a server spends in instructions: unlike CPU time, a count
 * does not move with what else runs on the machine, so two versions of a script compare to a per cent or so.
 */

/** The total instructions (Ir) a callgrind dump holds: its `totals:` line, or `summary:` where there is none. */
export function callgrindTotal(dump: string): number {
  const line = /^totals:\s+(\d+)/m.exec(dump) ?? /^summary:\s+(\d+)/m.exec(dump);
  if (!line) throw new Error('not a callgrind dump: no totals or summary line');
  return Number(line[1]);
}

// The frames every sample runs under, from the process's start to the server's event loop.
const ENTRY_FRAMES = /^(PROGRAM|\(below|main$|__libc_start|aeMain$|aeProcessEvents$)/;

/** One function's instructions, as callgrind_annotate prints it (inclusive or self, as asked). */
export interface CallgrindRow {
  function: string;
  /** Where it is defined, as callgrind names it (`file:function`): two functions of one name in two files stay apart. */
  at?: string;
  instructions: number;
}

/**
 * The named functions of a `callgrind_annotate` listing (`--inclusive=yes`, or self with `--inclusive=no`), largest first. A stripped binary's static
 * functions have no name (`???:0x...`) and are left out; so are the frames every instruction runs under (main, the event
 * loop).
 */
export function inclusiveRows(annotated: string): CallgrindRow[] {
  const rows: CallgrindRow[] = [];
  for (const m of annotated.matchAll(/^\s*([\d,]+) \([\s\d.]+%\)\s+(\S+)/gm)) {
    const where = m[2]!;
    const name = where.slice(where.indexOf(':') + 1);
    if (name.startsWith('0x') || ENTRY_FRAMES.test(name)) continue;
    rows.push({ function: name, at: where, instructions: Number(m[1]!.replaceAll(',', '')) });
  }
  return rows.sort((a, b) => b.instructions - a.instructions);
}

/**
 * What one run's functions cost beyond another's, per unit (a message): the difference of their rows, by place, largest
 * first. Two runs that differ only in how much work they did (pages routed) leave the setup both share out.
 */
export function rowsBeyond(base: readonly CallgrindRow[], run: readonly CallgrindRow[], units: number): CallgrindRow[] {
  const byPlace = (rows: readonly CallgrindRow[]) => new Map(rows.map((r) => [r.at ?? r.function, r]));
  const [before, after] = [byPlace(base), byPlace(run)];
  return [...after]
    .map(([place, row]) => ({ ...row, instructions: (row.instructions - (before.get(place)?.instructions ?? 0)) / units }))
    .sort((a, b) => b.instructions - a.instructions);
}
