import type { DestinationStream } from 'pino';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
/** Fields every line carries or that are shown in fixed places. */
const SHOWN_APART = new Set(['level', 'time', 'msg', 'node', 'component', 'err', 'pid', 'hostname']);

/**
 * Turns one pino JSON line into a line a person reads at a terminal:
 * `07:23:11.123 INFO  [gateway] gateway session opened gatewayId=gw-1 dialect=plain`, with an error's stack below.
 * Redaction has already happened: this sees exactly what the JSON output would have carried.
 */
export function formatLogLine(line: string, color = false): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : new Date().toISOString().slice(11, 23);
  let name = (LEVELS[level] ?? String(level)).padEnd(5);
  if (color) name = `\u001b[${COLORS[level] ?? '0'}m${name}\u001b[0m`;
  const component = typeof entry.component === 'string' ? ` [${entry.component}]` : '';
  const fields = Object.entries(entry)
    .filter(([k]) => !SHOWN_APART.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  let out = `${time} ${name}${component} ${String(entry.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}\n`;
  const err = entry.err as { stack?: unknown; message?: unknown } | undefined;
  if (err && typeof err === 'object') {
    const text = typeof err.stack === 'string' ? err.stack : String(err.message ?? JSON.stringify(err));
    out += `${text.replace(/^/gm, '    ')}\n`;
  }
  return out;
}

/** A pino destination that writes {@link formatLogLine}'s form to `out` (a terminal). */
export function prettyLogStream(out: NodeJS.WritableStream, color: boolean): DestinationStream {
  return { write: (chunk: string) => void out.write(formatLogLine(chunk.trimEnd(), color)) };
}

/** Pretty when asked, or when `auto` and stdout is a terminal; JSON otherwise (files, pipes, collectors). */
export function wantsPrettyLogs(format: 'auto' | 'json' | 'pretty', isTty: boolean): boolean {
  return format === 'pretty' || (format === 'auto' && isTty);
}
