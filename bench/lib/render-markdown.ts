/** The Markdown of docs/benchmarks.md: one table per run (single Redis, Redis Cluster), figures against targets. */
import { describeTarget, formatNumber, formatRatio, type FigureLine } from './figures.js';

/** What a run was (first JSON line of its file). */
export interface RunHeader {
  mode: 'single' | 'cluster';
  quick: boolean;
  startedAt: string;
  durationS: number;
  cores: number;
  /** 1-minute load average when the run started: a busy machine moves every figure. */
  loadAtStart?: number;
  node: string;
  command: string;
  sizes: Record<string, number>;
  scenarios: string[];
  /** How many times the fixed costs, the burst and the steady rate were measured (each figure then the median); absent: once. */
  rounds?: number;
  /** `legacy`: the relay's gateways spoke protocol v1 as deployed (no acknowledgements); absent: SDK gateways, acked. */
  delivery?: 'legacy';
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The table of one run. */
export function figureTable(lines: readonly FigureLine[]): string {
  const rows = [
    '| scenario | figure | relay | Socket.IO peer | ratio | target | met |',
    '|---|---|---:|---:|---:|---|---|',
  ];
  for (const f of lines) {
    const unit = f.unit ? ` ${f.unit}` : '';
    rows.push(
      `| ${cell(f.scenario)} | ${cell(f.metric)} | ${formatNumber(f.relay)}${f.relay === null ? '' : unit} | ${formatNumber(f.peer)}${f.peer === null ? '' : unit} | ${formatRatio(f.ratio)} | ${f.target ? cell(describeTarget(f.target, f.unit)) : ''} | ${f.met === null ? '' : f.met ? 'met' : '**not met**'} |`,
    );
  }
  return rows.join('\n');
}

/** Notes (sizes, per-command breakdowns) under a table. */
export function figureNotes(lines: readonly FigureLine[]): string {
  const notes = lines.filter((f) => f.note).map((f) => `- ${f.scenario}, ${f.metric}: ${f.note}`);
  return notes.join('\n');
}

/** One run's section. */
export function runSection(title: string, header: RunHeader, lines: readonly FigureLine[], chart: string): string {
  const met = lines.filter((f) => f.met === true).length;
  const targets = lines.filter((f) => f.met !== null).length;
  const sizes = Object.entries(header.sizes)
    .map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`)
    .join(', ');
  return [
    `## ${title}`,
    '',
    `\`${header.command}\` — ${header.quick ? '**quick sizes (a smoke run, not the record)**' : 'full sizes'}, ${header.startedAt}, ` +
      `${header.durationS} s, ${header.cores} cores${header.loadAtStart === undefined ? '' : ` (load average ${header.loadAtStart.toFixed(1)} at the start)`}, Node ${header.node}. Sizes: ${sizes}.${header.rounds ? ` ${header.scenarios.includes('fixed') ? 'Fixed-cost, burst' : 'Burst'} and steady figures: the median of ${header.rounds} rounds (each round's value in the notes).` : ''} Targets met: ${met} of ${targets}.`,
    '',
    figureTable(lines),
    '',
    `![ratios to the peer](${chart})`,
    '',
    figureNotes(lines),
    '',
  ].join('\n');
}
