/** A logger whose lines a delivery test can read, and counter/histogram values read back from a node's metrics. */
import { pino, type Logger } from 'pino';
import type { RelayMetrics } from '../../src/observability/metrics.js';

/** One JSON log line as pino writes it. */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

/** A pino logger at `debug` that keeps every line in `lines`. */
export function capturingLogger(): { logger: Logger; lines: LogLine[]; messages: (level?: number) => string[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines, messages: (level) => lines.filter((l) => level === undefined || l.level === level).map((l) => l.msg) };
}

/** pino's numeric levels. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** The value of a counter (or a histogram's `_sum`/`_count`) for exactly these labels; 0 when never touched. */
export async function metricValue(
  metric: RelayMetrics[keyof RelayMetrics],
  labels: Record<string, string>,
  name?: string,
): Promise<number> {
  const { values } = await (metric as unknown as { get(): Promise<{ values: Array<{ labels: Record<string, unknown>; value: number; metricName?: string }> }> }).get();
  const want = JSON.stringify(Object.entries(labels).sort());
  const found = values.find(
    (v) => (name === undefined || v.metricName === name) && JSON.stringify(Object.entries(v.labels).filter(([k]) => k !== 'le').sort()) === want && !('le' in v.labels),
  );
  return found?.value ?? 0;
}
