import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { findRedisServerBinary, freePort } from '@wecom-relay/testkit';

/** A redis-server process the test can freeze (SIGSTOP) and thaw (SIGCONT) without closing its sockets. */
export interface StoppableRedis {
  readonly url: string;
  readonly pid: number;
  /** SIGSTOP: the server keeps its connections open but answers nothing. */
  pause(): void;
  /** SIGCONT: the server answers again, commands that waited included. */
  resume(): void;
  /** Resumes (a stopped process cannot exit) and kills the server; removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a redis-server of its own on a free loopback port. A stall needs the process itself (a shared REDIS_URL
 * server cannot be frozen), so this test has no fallback to one.
 */
export async function startStoppableRedis(): Promise<StoppableRedis> {
  const binary = findRedisServerBinary();
  if (!binary) throw new Error('redis-server is not on PATH; the stall test needs its own server to SIGSTOP');
  const dir = mkdtempSync(join(tmpdir(), 'relay-stall-redis-'));
  const port = await freePort('127.0.0.1');
  const child: ChildProcess = spawn(
    binary,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused while the server starts; the loop retries
  const deadline = Date.now() + 15_000;
  try {
    for (;;) {
      try {
        if (probe.status !== 'ready') await probe.connect();
        if ((await probe.ping()) === 'PONG') break;
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 15 s`);
        await sleep(100);
      }
    }
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  } finally {
    probe.disconnect();
  }
  let stopped = false;
  const signal = (sig: NodeJS.Signals) => {
    if (!stopped && child.exitCode === null) child.kill(sig);
  };
  return {
    url,
    pid: child.pid!,
    pause: () => signal('SIGSTOP'),
    resume: () => signal('SIGCONT'),
    async stop() {
      if (stopped) return;
      signal('SIGCONT');
      signal('SIGKILL');
      stopped = true;
      await Promise.race([exited, sleep(5_000)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
