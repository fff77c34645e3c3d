import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { callgrindTotal, inclusiveRows, rowsBeyond } from '../../bench/lib/callgrind.js';
import { calleesOf, tally, type CpuProfile } from '../../bench/lib/cpu-profile.js';
import { complete, formatRatio, percentile, ratioOf, targetMet } from '../../bench/lib/figures.js';
import { latenciesOf, pageLatenciesOf } from '../../bench/lib/latencies.js';
import { parseOpenFileLimits } from '../../bench/lib/open-files.js';
import { CLOCK_TICKS_PER_SECOND, PAGE_BYTES, parseProcStat, usageOf } from '../../bench/lib/proc-stat.js';
import { dataMemory, describePerMessage, diffCommandStats, parseCommandStats, serverCpuSeconds, sumCommandStats, systemCalls } from '../../bench/lib/redis-stats.js';
import { figureTable, runSection } from '../../bench/lib/render-markdown.js';
import { median, medianOfRounds } from '../../bench/lib/rounds.js';
import { ratioChart } from '../../bench/lib/render-svg.js';
import { fromJsonLines, toJsonLines, writeRun } from '../../bench/lib/benchmarks-doc.js';
import type { RunHeader } from '../../bench/lib/render-markdown.js';

// A real line's shape; the command name holds spaces and a ')' to prove fields are counted from the last ')'.
const STAT =
  '4242 (node (main) x) S 4200 4100 4100 0 -1 4194560 2046 0 0 0 150 50 0 0 20 0 11 0 8001 1234567 3000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0';

describe('proc stat', () => {
  it('reads pid, ppid, process group, CPU ticks and RSS pages', () => {
    expect(parseProcStat(STAT)).toEqual({ pid: 4242, ppid: 4200, pgrp: 4100, cpuTicks: 200, rssPages: 3000 });
  });

  it('sums CPU and takes the largest RSS of a group', () => {
    const a = parseProcStat(STAT);
    const b = { ...a, pid: 4243, cpuTicks: 100, rssPages: 10 };
    expect(usageOf([a, b])).toEqual({ cpuUs: (300 * 1_000_000) / CLOCK_TICKS_PER_SECOND, rssBytes: 3000 * PAGE_BYTES });
  });

  it('reads the open-file limits', () => {
    expect(parseOpenFileLimits('Max cpu time   unlimited  unlimited  seconds\nMax open files            1024                 20000                files\n')).toEqual([1024, 20000]);
  });
});

describe('redis commandstats', () => {
  const before = parseCommandStats('# Commandstats\r\ncmdstat_xadd:calls=10,usec=100,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\ncmdstat_get:calls=5,usec=5,usec_per_call=1.00\r\n');
  const after = parseCommandStats('cmdstat_xadd:calls=30,usec=400,usec_per_call=13.33\r\ncmdstat_get:calls=5,usec=5\r\ncmdstat_evalsha:calls=20,usec=1000\r\n');

  it('parses calls and usec per command', () => {
    expect(before.get('xadd')).toEqual({ calls: 10, usec: 100 });
  });

  it('takes deltas, dropping commands with no new calls, and sums shards', () => {
    const delta = diffCommandStats(before, after);
    expect([...delta]).toEqual([
      ['xadd', { calls: 20, usec: 300 }],
      ['evalsha', { calls: 20, usec: 1000 }],
    ]);
    expect(sumCommandStats([before, before]).get('get')).toEqual({ calls: 10, usec: 10 });
    expect(describePerMessage(delta, 10)).toBe('evalsha 2.00/msg 100.0µs, xadd 2.00/msg 30.0µs');
    // The bench's own INFO calls are not the system's commands.
    const withInfo = new Map([...delta, ['info', { calls: 7, usec: 70 }]]);
    expect(systemCalls(withInfo)).toBe(40);
    expect(describePerMessage(withInfo, 10)).not.toContain('info');
  });
});

describe('redis cpu', () => {
  it("takes the server's own user and system time from INFO cpu, not its children's", () => {
    expect(serverCpuSeconds('# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:2.500000\r\nused_cpu_sys_children:9.000000\r\n')).toBe(3.75);
  });
});

describe('redis memory', () => {
  it('counts used_memory without the replication rings, which fill whatever is kept', () => {
    // As a Redis 7.0 cluster master answered INFO memory after a burst (used_memory_human etc. left out).
    const master = '# Memory\r\nused_memory:8520416\r\nused_memory_rss:15106048\r\nused_memory_overhead:3607960\r\nmem_replication_backlog:1048592\r\nmem_clients_slaves:17632\r\nmem_clients_normal:108880\r\n';
    expect(dataMemory(master)).toBe(8520416 - 1048592 - 17632);
    // No replicas: the rings are 0, or absent on servers before Redis 7.
    expect(dataMemory('used_memory:964832\r\nmem_replication_backlog:0\r\nmem_clients_slaves:0\r\n')).toBe(964832);
    expect(dataMemory('used_memory:964832\r\nused_memory_rss:2000000\r\n')).toBe(964832);
  });
});

describe('latencies', () => {
  // Two pages (served at 1000 and 1050 ms), a frame counted twice, and a frame of a message never served (not counted).
  const served = { a: 1000, b: 1000, c: 1000, d: 1050 };
  const arrivals = { ids: ['b', 'a', 'd', 'c', 'a', 'x'], at: [1004.5, 1002, 1053, 1010, 1012, 1060] };

  it('measures each frame from its page being served', () => {
    expect(latenciesOf(arrivals, served)).toEqual([2, 3, 4.5, 10, 12]);
  });

  it('splits a page into the wait for its first frame and the time to its last', () => {
    expect(pageLatenciesOf(arrivals, served)).toEqual({ first: [2, 3], spread: [0, 10] });
  });
});

describe('figures', () => {
  it('computes ratios and judges targets on the ratio or the value', () => {
    expect(ratioOf(4, 2)).toBe(2);
    expect(ratioOf(4, 0)).toBeNull();
    expect(ratioOf(null, 2)).toBeNull();
    expect(targetMet({ scenario: 's', metric: 'm', unit: 'µs', relay: 3, peer: 2, target: { on: 'ratio', bound: 'max', limit: 1 } })).toBe(false);
    expect(targetMet({ scenario: 's', metric: 'm', unit: 'ms', relay: 12, peer: 2, target: { on: 'value', bound: 'max', limit: 20 } })).toBe(true);
    expect(targetMet({ scenario: 's', metric: 'm', unit: '', relay: null, peer: 2, target: { on: 'value', bound: 'min', limit: 1 } })).toBe(false);
    expect(formatRatio(0.183)).toBe('0.18×');
    expect(formatRatio(4.8)).toBe('4.8×');
  });

  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
  });

  it('renders a table row, a chart bar and JSON lines that read back', () => {
    const line = complete({ scenario: 'burst', metric: 'CPU per message, all nodes', unit: 'µs', relay: 227, peer: 47, target: { on: 'ratio', bound: 'max', limit: 1 } });
    expect(figureTable([line])).toContain('| burst | CPU per message, all nodes | 227 µs | 47.0 µs | 4.8× | ≤ 1× peer | **not met** |');
    const svg = ratioChart([line], 'title');
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('4.8×');
    expect(svg).toContain('#d03030');
    const header: RunHeader = { mode: 'single', quick: true, startedAt: 'now', durationS: 1, cores: 2, node: 'v20', command: 'pnpm bench', sizes: { a: 1 }, scenarios: ['burst'] };
    expect(fromJsonLines(toJsonLines(header, [line]))).toEqual({ header, lines: [line] });
  });

  it('keeps a run with gateways as deployed apart from the acknowledged one, each with its own section', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-doc-'));
    try {
      const acked = complete({ scenario: 'burst', metric: 'CPU per message, all nodes', unit: 'µs', relay: 128, peer: 75 });
      const legacy = complete({ scenario: 'burst', metric: 'CPU per message, all nodes', unit: 'µs', relay: 80, peer: 78 });
      const header: RunHeader = { mode: 'single', quick: false, startedAt: 'now', durationS: 1, cores: 2, node: 'v20', command: 'pnpm bench', sizes: {}, scenarios: ['burst'] };
      writeRun(dir, header, [acked]);
      writeRun(dir, { ...header, command: 'pnpm bench --delivery legacy', delivery: 'legacy' }, [legacy]);
      expect(readdirSync(join(dir, 'benchmarks')).sort()).toEqual(['single-redis-legacy.jsonl', 'single-redis-legacy.svg', 'single-redis.jsonl', 'single-redis.svg']);
      expect(fromJsonLines(readFileSync(join(dir, 'benchmarks', 'single-redis.jsonl'), 'utf8')).lines).toEqual([acked]);
      const page = readFileSync(join(dir, 'benchmarks.md'), 'utf8');
      const legacyAt = page.indexOf('## Three nodes on one Redis, gateways as deployed (legacy delivery, no acknowledgements)');
      expect(page.indexOf('## Three nodes on one Redis\n')).toBeGreaterThan(0);
      expect(legacyAt).toBeGreaterThan(page.indexOf('## Three nodes on one Redis\n'));
      expect(page.slice(legacyAt)).toContain('| burst | CPU per message, all nodes | 80.0 µs | 78.0 µs | 1.0× |');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rounds', () => {
  const target = { on: 'ratio', bound: 'max', limit: 1 } as const;
  const round = (p99: number | null, cpu: number, note?: string) => [
    { scenario: 'steady', metric: 'latency p99', unit: 'ms', value: p99 },
    { scenario: 'steady', metric: 'CPU per message', unit: 'µs', value: cpu, target, ...(note ? { note } : {}) },
  ];

  it('takes the median, the mean of the middle two for an even count', () => {
    expect(median([30, 10, 20])).toBe(20);
    expect(median([40, 10, 30, 20])).toBe(25);
    expect(median([])).toBeNull();
  });

  it("gives each figure the median of its rounds, keeps the first round's target and note, and lists the rounds", () => {
    const combined = medianOfRounds([round(45.5, 270, 'relay: evalsha'), round(30.25, 250), round(60, 300)]);
    expect(combined).toEqual([
      { scenario: 'steady', metric: 'latency p99', unit: 'ms', value: 45.5, note: 'median of 3 rounds (45.5, 30.3, 60.0)' },
      { scenario: 'steady', metric: 'CPU per message', unit: 'µs', value: 270, target, note: 'relay: evalsha; median of 3 rounds (270, 250, 300)' },
    ]);
  });

  it('takes the worst round, not the median, for a figure marked so: a loss or a spike in one round stands', () => {
    const delivered = (n: number) => [{ scenario: 'burst', metric: 'messages delivered', unit: '', value: n, target: { on: 'value', bound: 'min', limit: 200 } as const, acrossRounds: 'worst' as const }];
    const max = (ms: number) => [{ scenario: 'steady', metric: 'latency max', unit: 'ms', value: ms, target: { on: 'value', bound: 'max', limit: 100 } as const, acrossRounds: 'worst' as const }];
    expect(medianOfRounds([delivered(200), delivered(199), delivered(200)])[0]).toMatchObject({ value: 199, note: 'worst of 3 rounds (200, 199, 200)' });
    expect(medianOfRounds([max(40), max(130), max(50)])[0]!.value).toBe(130);
  });

  it('leaves out a round that measured nothing for a figure, and returns one round as it is', () => {
    const combined = medianOfRounds([round(null, 100), round(20, 110), round(40, 120)]);
    expect(combined[0]!.value).toBe(30);
    expect(combined[0]!.note).toBe('median of 3 rounds (–, 20.0, 40.0)');
    const one = round(12, 99);
    expect(medianOfRounds([one])).toEqual(one);
  });

  it('says in the run section that burst and steady figures are medians of the rounds', () => {
    const header: RunHeader = { mode: 'single', quick: false, startedAt: 'x', durationS: 1, cores: 2, node: 'v20', command: 'pnpm bench --rounds 3', sizes: {}, scenarios: ['steady'], rounds: 3 };
    expect(runSection('One Redis', header, [], 'chart.svg')).toContain('the median of 3 rounds');
    expect(runSection('One Redis', { ...header, rounds: undefined }, [], 'chart.svg')).not.toContain('median');
  });
});

describe('cpu profile', () => {
  // root → main → work, and root → (idle); a sample's time is the gap to the next one (µs).
  const frame = (functionName: string, lineNumber = 0) => ({ functionName, url: 'file:///app/dist/main.js', lineNumber });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 4] },
      { id: 2, callFrame: frame('main', 9), children: [3] },
      { id: 3, callFrame: frame('work', 19) },
      { id: 4, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    ],
    startTime: 0,
    endTime: 5000,
    samples: [3, 3, 4, 2, 4],
    timeDeltas: [0, 1000, 1000, 1000, 2000],
  };

  it('tallies self and inclusive ms per function, idle apart from busy', () => {
    const t = tally(profile, { fromEndS: 60, toEndS: 0 });
    expect(t.windowMs).toBe(5);
    expect(t.busyMs).toBe(4);
    expect(Object.fromEntries(t.self)).toEqual({ 'work dist/main.js:20': 2, '(idle) :0': 1, 'main dist/main.js:10': 2 });
    expect(Object.fromEntries(t.inclusive)).toEqual({ 'work dist/main.js:20': 2, 'main dist/main.js:10': 4, '(idle) :0': 1 });
  });

  it("keeps to the window before the end, and says where a function's time went", () => {
    // The last 2.5 ms: the samples at 3 and 5 ms.
    expect(tally(profile, { fromEndS: 0.0025, toEndS: 0 }).busyMs).toBe(2);
    expect(Object.fromEntries(calleesOf(profile, { fromEndS: 60, toEndS: 0 }, 'main', 1))).toEqual({ 'work dist/main.js:20': 2, '(self)': 2 });
  });
});

describe('callgrind', () => {
  it("reads a dump's total instructions, from its totals line or else its summary line", () => {
    expect(callgrindTotal('version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 1146466118\n\nfn=(1) main\n0 5\ntotals: 1146466200\n')).toBe(1146466200);
    expect(callgrindTotal('events: Ir\nsummary: 42\n')).toBe(42);
    expect(() => callgrindTotal('events: Ir\n')).toThrow(/not a callgrind dump/);
  });

  it("lists an annotated run's named functions, largest first, without the entry frames and unnamed ones", () => {
    const annotated = [
      '1,298,143,546 (100.0%)  PROGRAM TOTALS',
      '1,298,143,546 (100.0%)  ./csu/../sysdeps/nptl/libc_start_call_main.h:(below main) [/usr/lib/x86_64-linux-gnu/libc.so.6]',
      '1,298,143,546 (100.0%)  ???:main [/usr/bin/redis-check-rdb]',
      '1,290,000,000 (99.37%)  ???:aeMain [/usr/bin/redis-check-rdb]',
      '  110,346,542 ( 8.50%)  ???:0x00000000001613d0 [/usr/bin/redis-check-rdb]',
      '   92,319,540 ( 7.11%)  ???:hsetCommand [/usr/bin/redis-check-rdb]',
      '1,159,890,482 (89.35%)  ???:evalShaCommand [/usr/bin/redis-check-rdb]',
    ].join('\n');
    expect(inclusiveRows(annotated)).toEqual([
      { function: 'evalShaCommand', at: '???:evalShaCommand', instructions: 1_159_890_482 },
      { function: 'hsetCommand', at: '???:hsetCommand', instructions: 92_319_540 },
    ]);
  });

  it("gives what one run's functions cost beyond another's, per unit, largest first, by place, a function the base lacks in full", () => {
    const base = [
      { function: 'evalShaCommand', at: 'eval.c:evalShaCommand', instructions: 1_000 },
      { function: 'hsetCommand', at: 't_hash.c:hsetCommand', instructions: 500 },
      { function: 'handler', at: 'conn.h:handler', instructions: 100 },
      { function: 'handler', at: 'conn.c:handler', instructions: 100 },
    ];
    const run = [
      { function: 'evalShaCommand', at: 'eval.c:evalShaCommand', instructions: 21_000 },
      { function: 'hsetCommand', at: 't_hash.c:hsetCommand', instructions: 2_500 },
      { function: 'xaddCommand', at: 't_stream.c:xaddCommand', instructions: 3_000 },
      { function: 'handler', at: 'conn.h:handler', instructions: 1_100 },
      { function: 'handler', at: 'conn.c:handler', instructions: 1_100 },
    ];
    expect(rowsBeyond(base, run, 10).map((r) => [r.at, r.instructions])).toEqual([
      ['eval.c:evalShaCommand', 2_000],
      ['t_stream.c:xaddCommand', 300],
      ['t_hash.c:hsetCommand', 200],
      ['conn.h:handler', 100],
      ['conn.c:handler', 100],
    ]);
  });
});
