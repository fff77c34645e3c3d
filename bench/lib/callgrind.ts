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

/** One function's inclusive instructions, as callgrind_annotate --inclusive=yes prints it. */
export interface CallgrindRow {
  function: string;
  instructions: number;
}

/**
 * The named functions of a `callgrind_annotate --inclusive=yes` listing, largest first. A stripped binary's static
 * functions have no name (`???:0x...`) and are left out; so are the frames every instruction runs under (main, the event
 * loop).
 */
export function inclusiveRows(annotated: string): CallgrindRow[] {
  const rows: CallgrindRow[] = [];
  for (const m of annotated.matchAll(/^\s*([\d,]+) \([\s\d.]+%\)\s+(\S+)/gm)) {
    const where = m[2]!;
    const name = where.slice(where.indexOf(':') + 1);
    if (name.startsWith('0x') || ENTRY_FRAMES.test(name)) continue;
    rows.push({ function: name, instructions: Number(m[1]!.replaceAll(',', '')) });
  }
  return rows.sort((a, b) => b.instructions - a.instructions);
}
