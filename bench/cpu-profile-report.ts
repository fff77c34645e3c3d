/**
 * Where a profiled process spent a window of its run, by function: self and inclusive milliseconds, or what one
 * function's time went to. Profiles come from `--cpu-prof`: relay nodes via TESTKIT_NODE_FLAGS, the bench's gateway
 * drivers and fake WeCom via BENCH_CHILD_FLAGS (both e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). The window is given
 * in seconds before the profile's end (a steady run's measured rate is its last 20 s, after 20 s of warm-up, and ends
 * about a second before the nodes).
 *
 *   pnpm tsx bench/cpu-profile-report.ts /tmp/prof/CPU.*.cpuprofile [--from 23] [--to 1.5] [--top 30] [--callees name] [--depth 3]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { calleesOf, largest, tally, type CpuProfile } from './lib/cpu-profile.js';

const { values: flags, positionals: files } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  allowPositionals: true,
  options: {
    from: { type: 'string', default: '23' },
    to: { type: 'string', default: '1.5' },
    top: { type: 'string', default: '30' },
    callees: { type: 'string' },
    depth: { type: 'string', default: '3' },
  },
});
if (files.length === 0) throw new Error('name one or more .cpuprofile files');
const window = { fromEndS: Number(flags.from), toEndS: Number(flags.to) };
const top = Number(flags.top);
const ms = (v: number): string => v.toFixed(0).padStart(7);

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  console.log(`== ${file}`);
  if (flags.callees) {
    const paths = calleesOf(profile, window, flags.callees, Number(flags.depth));
    for (const [path, v] of largest(paths, top)) console.log(`${ms(v)}  ${path}`);
    continue;
  }
  const t = tally(profile, window);
  console.log(`window ${t.windowMs.toFixed(0)} ms, busy ${t.busyMs.toFixed(0)} ms`);
  console.log('-- self (ms)');
  for (const [name, v] of largest(t.self, top)) console.log(`${ms(v)}  ${name}`);
  console.log('-- inclusive (ms)');
  for (const [name, v] of largest(t.inclusive, top)) console.log(`${ms(v)}  ${name}`);
}
