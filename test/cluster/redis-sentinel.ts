import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort, type RedisHandle } from '@wecom-relay/testkit';

/** How a test Sentinel watches its master. */
export interface SentinelOptions {
  /** Milliseconds of silence before the master is considered down and failed over; default Sentinel's own (30 s). */
  downAfterMs?: number;
}

/** A running Sentinel: its port, who it names as master right now, and stop(). */
export interface SentinelHandle {
  port: number;
  /** The port of the master the Sentinel names right now. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

/** A real Redis Sentinel (the redis-server binary in sentinel mode) watching one master. */
export async function startSentinel(master: RedisHandle, o: SentinelOptions = {}): Promise<SentinelHandle> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor relay-master ${master.host} ${master.port} 1`,
      ...(o.downAfterMs ? [`sentinel down-after-milliseconds relay-master ${o.downAfterMs}`, 'sentinel failover-timeout relay-master 5000'] : []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined); // refused until the sentinel listens; the loop retries
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await probe.connect();
      const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', 'relay-master')) as string[] | null;
      if (addr && Number(addr[1]) === master.port) break;
    } catch {
      // not up yet
    }
    probe.disconnect();
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('redis sentinel did not start');
    }
    await sleep(100);
  }
  probe.disconnect();
  return {
    port,
    async masterPort() {
      const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        const addr = (await c.call('SENTINEL', 'get-master-addr-by-name', 'relay-master')) as string[];
        return Number(addr[1]);
      } finally {
        c.disconnect();
      }
    },
    async stop() {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(3_000)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

