import { readFileSync, readdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const MiB = 1024 * 1024;

/** Megabytes, one decimal, for the one-line figures the attack tests print. */
export function mib(bytes: number): string {
  return (bytes / MiB).toFixed(1);
}

function stat(pid: number): { ppid: number; pgrp: number } | undefined {
  try {
    // Fields after the parenthesised command name: state ppid pgrp ...
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), pgrp: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

/**
 * The relay's own node process. Test processes run in a process group led by a guard, with the tsx launcher in
 * between; the relay is the group's node process that runs main.ts itself (neither the guard nor the launcher).
 */
export function relayProcessPid(groupPid: number): number {
  const members = readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => stat(pid)?.pgrp === groupPid)
    .map((pid) => ({ pid, cmdline: cmdline(pid) }))
    .filter((p) => p.cmdline.includes('main.ts') && !p.cmdline.includes('process-guard') && !p.cmdline.includes('cli.mjs'));
  if (members.length !== 1) throw new Error(`expected one relay process in group ${groupPid}, found ${members.map((m) => m.pid).join(',') || 'none'}`);
  return members[0]!.pid;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Resident memory of a process (VmRSS), in bytes. */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  if (line === undefined) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(line.replace(/\D+/g, '')) * 1024;
}

/** Samples a process's RSS on an interval and keeps the highest figure. */
export class RssWatch {
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 25,
  ) {
    this.peak = rssBytes(pid);
    this.timer = setInterval(() => {
      try {
        this.peak = Math.max(this.peak, rssBytes(this.pid));
      } catch {
        // The process is gone; the test sees that on its own.
      }
    }, everyMs);
  }

  /** Stops sampling and returns the highest RSS seen. */
  stop(): number {
    clearInterval(this.timer);
    this.peak = Math.max(this.peak, rssBytes(this.pid));
    return this.peak;
  }
}

/** A baseline RSS: the lowest of a few samples once the node has been quiet, so one GC cycle does not skew it. */
export async function quietRss(pid: number, samples = 10, everyMs = 100): Promise<number> {
  let low = Number.POSITIVE_INFINITY;
  for (let i = 0; i < samples; i++) {
    low = Math.min(low, rssBytes(pid));
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return low;
}

/** Probes GET /healthz back to back (with a short gap) and records each answer's latency. */
export class HealthProbe {
  readonly latenciesMs: number[] = [];
  readonly failures: string[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    private readonly httpUrl: string,
    private readonly gapMs = 10,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = performance.now();
      try {
        const res = await fetch(`${this.httpUrl}/healthz`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status !== 200) this.failures.push(`status ${res.status}`);
      } catch (err) {
        this.failures.push(String(err));
      }
      this.latenciesMs.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, this.gapMs));
    }
  }

  /** Stops probing; resolves once the last probe has answered. */
  async stop(): Promise<{ count: number; worstMs: number; p50Ms: number }> {
    this.running = false;
    await this.loop;
    const sorted = [...this.latenciesMs].sort((a, b) => a - b);
    return { count: sorted.length, worstMs: sorted.at(-1) ?? 0, p50Ms: sorted[Math.floor(sorted.length / 2)] ?? 0 };
  }
}

/** The value of one Prometheus sample from /metrics (0 when absent), matched by name and label text. */
export async function metricValue(metricsUrl: string, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (labels && !line.includes(labels)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
