import { pino, type Logger } from 'pino';

/**
 * Polls until `check` holds. The deadline only stops a hung test from running forever; it is not an
 * assertion about speed.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, deadlineMs = 15_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A pino logger that keeps its records in memory, so tests can check what was logged. */
export function capturingLogger(): { logger: Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void records.push(JSON.parse(line)) });
  return { logger, records };
}
