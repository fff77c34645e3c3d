import { Redis, type RedisOptions } from 'ioredis';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { startRedis, type RedisHandle } from '@wecom-relay/testkit';

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

/**
 * A Redis server of this test file's own, started before its tests and stopped after them, and a client on it: the
 * commands a test counts on it are that file's alone (a file's tests run one after another). Read the fields inside
 * tests, not at import time.
 */
export function ownRedisServer(options: RedisOptions = {}): { server: RedisHandle; redis: Redis } {
  const own = {} as { server: RedisHandle; redis: Redis };
  beforeAll(async () => {
    own.server = await startRedis();
    own.redis = new Redis(own.server.url, options);
  });
  afterAll(async () => {
    await own.redis?.quit();
    await own.server?.stop();
  });
  return own;
}

/** Calls of each command the server has run so far (INFO commandstats; commands run by scripts counted too). */
export async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/** The commands `redis` sent while `work` ran (round trips: a script's own calls are not among them), by name, with what `work` resolved to. */
export async function sending<T>(redis: Redis, work: () => Promise<T>): Promise<{ result: T; sent: string[] }> {
  const sent: string[] = [];
  const original = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    sent.push(command.name);
    return original(command, stream);
  };
  try {
    return { result: await work(), sent };
  } finally {
    redis.sendCommand = original;
  }
}
