/**
 * Reading a V8 CPU profile (`node --cpu-prof`): where a process spent a window of it, by function. Each sample names
 * the stack it caught; a sample's time is the gap to the next one.
 */

/** The parts of a `.cpuprofile` read here. */
export interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Milliseconds per function: its own (`self`) and with what it called (`inclusive`), over the window. */
export interface ProfileTally {
  windowMs: number;
  /** Samples' time outside the `(idle)` entry: the process on a CPU. */
  busyMs: number;
  self: Map<string, number>;
  inclusive: Map<string, number>;
}

/** A window of the profile in seconds before its end: [endTime − from, endTime − to]. */
export interface ProfileWindow {
  fromEndS: number;
  toEndS: number;
}

/** `name file:line` for a call frame, the file as its last two path parts. */
export function frameName(frame: CpuProfile['nodes'][number]['callFrame']): string {
  const file = frame.url.split('/').slice(-2).join('/');
  return `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
}

/** Each sample in the window: its stack (leaf first, as frame names) and its time in ms. */
export function samplesIn(profile: CpuProfile, window: ProfileWindow): Array<{ stack: string[]; ms: number }> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const { from, to } = windowBounds(profile, window);
  const out: Array<{ stack: string[]; ms: number }> = [];
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at < from || at > to) continue;
    const stack: string[] = [];
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parent.get(id)) {
      const node = byId.get(id);
      if (node && node.callFrame.functionName !== '(root)') stack.push(frameName(node.callFrame));
    }
    out.push({ stack, ms: (profile.timeDeltas[i + 1] ?? 0) / 1000 });
  }
  return out;
}

const IDLE = /^\(idle\) /;

/** Self and inclusive time per function over the window (a recursive function counted once per sample). */
export function tally(profile: CpuProfile, window: ProfileWindow): ProfileTally {
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busyMs = 0;
  for (const { stack, ms } of samplesIn(profile, window)) {
    const leaf = stack[0];
    if (leaf === undefined) continue;
    self.set(leaf, (self.get(leaf) ?? 0) + ms);
    if (!IDLE.test(leaf)) busyMs += ms;
    for (const name of new Set(stack)) inclusive.set(name, (inclusive.get(name) ?? 0) + ms);
  }
  const { from, to } = windowBounds(profile, window);
  return { windowMs: Math.max(0, to - from) / 1000, busyMs, self, inclusive };
}

/** The window in the profile's µs clock, within its run. */
function windowBounds(profile: CpuProfile, window: ProfileWindow): { from: number; to: number } {
  return {
    from: Math.max(profile.startTime, profile.endTime - window.fromEndS * 1e6),
    to: Math.min(profile.endTime, profile.endTime - window.toEndS * 1e6),
  };
}

/**
 * Time under each path of up to `depth` frames called from the (outermost) frame whose name starts with `target`:
 * where that function's time went.
 */
export function calleesOf(profile: CpuProfile, window: ProfileWindow, target: string, depth: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const { stack, ms } of samplesIn(profile, window)) {
    let at = -1;
    for (let i = stack.length - 1; i >= 0; i--) {
      if (stack[i]!.startsWith(target)) {
        at = i;
        break;
      }
    }
    if (at < 0) continue;
    const path = stack.slice(Math.max(0, at - depth), at).reverse().join(' > ') || '(self)';
    out.set(path, (out.get(path) ?? 0) + ms);
  }
  return out;
}

/** The largest entries of a tally, largest first. */
export function largest(map: ReadonlyMap<string, number>, top: number): Array<[string, number]> {
  return [...map].sort((a, b) => b[1] - a[1]).slice(0, top);
}
