import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:net';
import { freePort } from '../redis/free-port.js';

/** One relay node behind the balancer. */
export interface BalancedNode {
  name: string;
  httpPort: number;
  wsPort: number;
}

/** A running haproxy in front of relay nodes. */
export interface HaproxyHandle {
  /** http://127.0.0.1:PORT: WeCom's side (/webhook) through the balancer. */
  httpUrl: string;
  /** ws://127.0.0.1:PORT: gateways through the balancer. */
  wsUrl: string;
  stop(): Promise<void>;
}

/** Whether the haproxy binary is on PATH. */
export function haproxyAvailable(): boolean {
  return spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
}

/**
 * Starts a real haproxy that balances WeCom's callbacks (round robin) and gateway WebSockets (least connections)
 * over the given nodes, taking a node out of rotation when its /readyz fails, as a production balancer would.
 */
export async function startHaproxy(nodes: BalancedNode[]): Promise<HaproxyHandle> {
  if (!haproxyAvailable()) {
    throw new Error('haproxy is not installed: apt-get install haproxy (CI installs it from .ci/run)');
  }
  const httpPort = await freePort();
  let wsPort = await freePort();
  while (wsPort === httpPort) wsPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'haproxy-'));
  const cfg = join(dir, 'haproxy.cfg');
  const servers = (port: (n: BalancedNode) => number) =>
    nodes
      .map((n) => `  server ${n.name} 127.0.0.1:${port(n)} check port ${n.httpPort} inter 500ms fall 2 rise 1`)
      .join('\n');
  writeFileSync(
    cfg,
    `global
  # Each proxied connection takes two descriptors; this machine allows 20,000 per process.
  maxconn 9000
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  timeout tunnel 1h
  option httpchk GET /readyz
  option forwardfor
  option redispatch
  retries 2
frontend wecom_in
  bind 127.0.0.1:${httpPort}
  default_backend relay_http
frontend gateways_in
  bind 127.0.0.1:${wsPort}
  default_backend relay_ws
backend relay_http
  balance roundrobin
${servers((n) => n.httpPort)}
backend relay_ws
  balance leastconn
${servers((n) => n.wsPort)}
`,
  );
  const child = spawn('haproxy', ['-f', cfg, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(httpPort)) || !(await canConnect(wsPort))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`haproxy did not start:\n${stderr}`);
    }
    await sleep(50);
  }
  return {
    httpUrl: `http://127.0.0.1:${httpPort}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(3_000)]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
