/**
 * `pnpm bench`: the performance record. Three compiled relay nodes and a Socket.IO + redis-adapter peer, each with
 * its own fake WeCom and gateway drivers, on the same Redis, through the same scenarios; every figure is printed
 * as a JSON line with its ratio to the peer, and docs/benchmarks.md (+ .jsonl, .svg) is rewritten.
 *
 *   pnpm bench [--quick] [--redis-cluster] [--delivery ack|legacy] [--scenarios idle,burst,steady,storm,capacity] [--sizes name=n,...] [--rounds n] [--out docs] [--render-only] [--systems relay,peer]
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { buildChildren } from './lib/build-children.js';
import { renderDocumentTo, writeRun } from './lib/benchmarks-doc.js';
import { complete, describeTarget, formatNumber, formatRatio, type Figure, type FigureLine } from './lib/figures.js';
import { openFileLimits } from './lib/open-files.js';
import type { RunHeader } from './lib/render-markdown.js';
import { medianOfRounds } from './lib/rounds.js';
import { capacityPhase } from './scenarios/capacity.js';
import { gatewaysPhase } from './scenarios/gateways.js';
import { FULL_SIZES, QUICK_SIZES, type Phase, type Reading, type ScenarioContext, type Sizes } from './scenarios/scenario-context.js';
import { trafficPhase } from './scenarios/traffic.js';
import { startRedisBackend } from './systems/redis-backend.js';
import type { SystemKind } from './systems/bench-system.js';

const SCENARIOS = ['idle', 'fixed', 'burst', 'steady', 'storm', 'capacity'] as const;
type ScenarioName = (typeof SCENARIOS)[number];

const { values: flags } = parseArgs({
  // `pnpm bench -- --x` passes the separator through.
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    quick: { type: 'boolean', default: false },
    'redis-cluster': { type: 'boolean', default: false },
    scenarios: { type: 'string', default: SCENARIOS.join(',') },
    out: { type: 'string', default: 'docs' },
    // e.g. --sizes burstMessages=50000,steadySeconds=30 (names: see FULL_SIZES in scenarios/scenario-context.ts)
    sizes: { type: 'string', default: '' },
    // Rewrites docs/benchmarks.md from the .jsonl files already there, without measuring.
    'render-only': { type: 'boolean', default: false },
    // Debugging aid: measure only one side (its figures then carry no ratio).
    systems: { type: 'string', default: 'relay,peer' },
    // The fixed costs, the burst and the steady rate (the figures that move most between runs on a shared machine)
    // measured this many times, the systems taking turns to go first; how the rounds make one figure: lib/rounds.ts.
    rounds: { type: 'string', default: '1' },
    // How the relay's gateways take delivery: ack (SDK gateways, the record the targets are judged on) or legacy
    // (protocol v1 as the deployed gateways speak it: no acknowledgements); the run gets files of its own.
    delivery: { type: 'string', default: 'ack' },
  },
});

/**
 * One node alone holds every capacity gateway's socket. Node raises its soft open-file limit to the hard one at
 * start, so the hard limit (20,000 on the benchmark machine) is what counts; below the need, fail before starting.
 */
function checkOpenFiles(sizes: Sizes): void {
  const [soft] = openFileLimits();
  const need = sizes.capacityOne + 500;
  if (soft < need) {
    throw new Error(`${sizes.capacityOne} gateways on one node need about ${need} open files per process; the limit here is ${soft} (raise ulimit -n, or --sizes capacityOne=...)`);
  }
}

const log = (line: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** Pairs the relay's and the peer's readings of each figure, in the relay's order. */
function pair(relay: Reading[], peer: Reading[]): Figure[] {
  const key = (r: Reading): string => `${r.scenario}\u0000${r.metric}`;
  const peerBy = new Map(peer.map((r) => [key(r), r]));
  const seen = new Set<string>();
  const out: Figure[] = [];
  for (const r of [...relay, ...peer]) {
    const k = key(r);
    if (seen.has(k)) continue;
    seen.add(k);
    const relayR = relay.find((x) => key(x) === k);
    const peerR = peerBy.get(k);
    const notes = [relayR?.note && `relay: ${relayR.note}`, peerR?.note && peerR.note !== relayR?.note && `peer: ${peerR.note}`].filter(Boolean);
    const base = relayR ?? peerR!;
    out.push({
      scenario: base.scenario,
      metric: base.metric,
      unit: base.unit,
      relay: relayR?.value ?? null,
      peer: peerR?.value ?? null,
      ...(base.target ? { target: base.target } : {}),
      ...(notes.length ? { note: relayR?.note === peerR?.note && relayR?.note ? relayR.note : notes.join('; ') } : {}),
    });
  }
  return out;
}

function printLine(f: FigureLine): void {
  const verdict = f.met === null ? '' : f.met ? '  [met]' : '  [NOT MET]';
  const target = f.target ? `  target ${describeTarget(f.target, f.unit)}` : '';
  log(`${f.scenario} | ${f.metric}: relay ${formatNumber(f.relay)} ${f.unit}, peer ${formatNumber(f.peer)} ${f.unit}, ratio ${formatRatio(f.ratio)}${target}${verdict}`);
}

async function main(): Promise<number> {
  if (flags['render-only']) {
    log(`wrote ${renderDocumentTo(flags.out)}`);
    return 0;
  }
  const picked = new Set(flags.scenarios.split(',').map((s) => s.trim()).filter(Boolean));
  for (const s of picked) if (!(SCENARIOS as readonly string[]).includes(s)) throw new Error(`unknown scenario ${s}; known: ${SCENARIOS.join(', ')}`);
  const has = (s: ScenarioName): boolean => picked.has(s);
  const sizes: Sizes = { ...(flags.quick ? QUICK_SIZES : FULL_SIZES) };
  for (const kv of flags.sizes.split(',').filter(Boolean)) {
    const [k, v] = kv.split('=');
    if (!k || !(k in sizes) || !Number.isFinite(Number(v))) throw new Error(`--sizes: ${kv} is not name=number with a name of ${Object.keys(sizes).join(', ')}`);
    sizes[k as keyof Sizes] = Number(v);
  }
  const systems = (['relay', 'peer'] as const).filter((k) => flags.systems.split(',').includes(k));
  if (systems.length === 0) throw new Error('--systems names neither relay nor peer');
  const rounds = Number(flags.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 9) throw new Error(`--rounds: ${flags.rounds} is not a whole number from 1 to 9`);
  const delivery = flags.delivery;
  if (delivery !== 'ack' && delivery !== 'legacy') throw new Error(`--delivery: ${delivery} is neither ack nor legacy`);
  if (has('capacity')) checkOpenFiles(sizes);
  const mode = flags['redis-cluster'] ? 'cluster' : 'single';
  const started = Date.now();
  const loadAtStart = loadavg()[0]!;
  // A hung process must not hold the machine: the whole run is bounded (the full run takes well under this).
  const budgetMs = (flags.quick ? 10 : 20) * 60_000 + (rounds - 1) * (flags.quick ? 2 : 5) * 60_000;
  const watchdog = setTimeout(() => {
    log(`the run did not finish within ${budgetMs / 60_000} minutes; stopping everything`);
    process.exit(2);
  }, budgetMs);
  watchdog.unref();

  log('bundling the peer server and the gateway driver');
  const scripts = await buildChildren();
  log(`starting ${mode === 'single' ? 'one redis-server' : 'a Redis Cluster (3 masters, 3 replicas)'}`);
  const backend = await startRedisBackend(mode);
  const ctx: ScenarioContext = { backend, scripts, sizes, log, delivery };
  const phases: Array<{ name: string; run: Phase; rounds: number }> = [];
  if (has('idle') || has('storm')) phases.push({ name: 'gateways', run: gatewaysPhase({ idle: has('idle'), storm: has('storm') }), rounds: 1 });
  if (has('fixed') || has('burst') || has('steady')) {
    phases.push({ name: 'traffic', run: trafficPhase({ fixed: has('fixed'), burst: has('burst'), steady: has('steady') }), rounds });
  }
  if (has('capacity')) phases.push({ name: 'capacity', run: capacityPhase, rounds: 1 });

  const figures: FigureLine[] = [];
  let failures = 0;
  try {
    for (const phase of phases) {
      const readings: Record<SystemKind, Reading[][]> = { relay: [], peer: [] };
      for (let round = 0; round < phase.rounds; round++) {
        // Taking turns to go first, so neither side always runs on the machine the other left behind.
        for (const kind of round % 2 === 0 ? systems : [...systems].reverse()) {
          log(`${phase.name}: ${kind === 'relay' ? 'relay' : 'Socket.IO peer'}${phase.rounds > 1 ? `, round ${round + 1} of ${phase.rounds}` : ''}`);
          try {
            readings[kind].push(await phase.run(ctx, kind));
          } catch (err) {
            failures++;
            log(`${phase.name} (${kind}) FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
          }
          await backend.reset();
        }
      }
      const of = (kind: SystemKind): Reading[] => (readings[kind].length > 0 ? medianOfRounds(readings[kind]) : []);
      for (const f of pair(of('relay'), of('peer')).map(complete)) {
        figures.push(f);
        process.stdout.write(`${JSON.stringify(f)}\n`);
        printLine(f);
      }
    }
  } finally {
    await backend.stop();
  }
  const header: RunHeader = {
    mode,
    quick: flags.quick,
    startedAt: new Date(started).toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
    durationS: Math.round((Date.now() - started) / 1000),
    cores: cpus().length,
    loadAtStart,
    node: process.version,
    command: ['pnpm bench', ...process.argv.slice(2).filter((a) => a !== '--')].join(' '),
    sizes: { ...sizes },
    scenarios: [...picked],
    ...(rounds > 1 ? { rounds } : {}),
    ...(delivery === 'legacy' ? { delivery } : {}),
  };
  const written = writeRun(flags.out, header, figures);
  log(`wrote ${written.md}, ${written.jsonl}, ${written.svg} (${header.durationS} s)`);
  const notMet = figures.filter((f) => f.met === false).length;
  log(`targets: ${figures.filter((f) => f.met === true).length} met, ${notMet} not met${failures ? `; ${failures} phase(s) FAILED` : ''}`);
  return failures > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
