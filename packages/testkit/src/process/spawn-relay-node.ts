import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../redis/free-port.js';
import { ManagedProcess, ProcessStartError, childEnv, type ExitInfo } from './managed-process.js';
import type { TestCorp } from './test-corp.js';

/** Environment of a relay node; PORT, WS_PORT, HOST and DATABASE_PATH are filled in when absent. */
export type RelayNodeEnv = Record<string, string | undefined>;

/** Harness options beyond the node's own environment. */
export interface SpawnRelayNodeOptions {
  /** How long to wait for GET /readyz to answer 200; default 90 s (a busy 2-core CI machine starts tsx slowly). */
  readyTimeoutMs?: number;
  /** How long SIGTERM may take before SIGKILL on stop(); default 8 s. */
  stopGraceMs?: number;
  /** Leave the temporary database directory in place after stop() (to restart a node on the same data). */
  keepData?: boolean;
  /** Mirrors every output line (the demo prints them). */
  onLine?: (line: string) => void;
  /** Name used in diagnostics; default relay-node or the NODE_ID. */
  name?: string;
  /** Run the production build (`packages/relay-node/dist/main.js`, made by `pnpm build`) with plain node instead of the sources under tsx. */
  compiled?: boolean;
}

/** A running relay node. */
export interface RelayNodeHandle {
  /** http://127.0.0.1:PORT: /webhook, /healthz, /readyz, /metrics. */
  httpUrl: string;
  /** ws://127.0.0.1:WS_PORT for gateways. */
  wsUrl: string;
  /** WeCom's callback URL for this node. */
  webhookUrl: string;
  pid: number;
  /** Every stdout/stderr line (pino JSON). */
  logs: string[];
  /** The full environment the node was started with (reuse it to restart the node). */
  env: Record<string, string>;
  process: ManagedProcess;
  /** Signals the node's process group without waiting (default SIGKILL: a crash). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after the grace period; removes the temporary data directory unless keepData. */
  stop(): Promise<ExitInfo>;
  waitExit(): Promise<ExitInfo>;
  /** The last output lines, for failure messages. */
  tail(lines?: number): string;
}

/** The two ports a node will listen on, chosen before it starts so the fake WeCom can be told its webhook URL. */
export interface RelayPorts {
  port: number;
  wsPort: number;
  webhookUrl: string;
}

/** Reserves ports for a node (free a moment ago) and names its webhook URL. */
export async function reserveRelayPorts(): Promise<RelayPorts> {
  const port = await freePort();
  let wsPort = await freePort();
  while (wsPort === port) wsPort = await freePort();
  return { port, wsPort, webhookUrl: `http://127.0.0.1:${port}/webhook` };
}

/** The node environment for a test corp talking to a fake WeCom at `apiBase`. */
export function relayEnvFor(corp: TestCorp, apiBase: string, extra: RelayNodeEnv = {}): RelayNodeEnv {
  return {
    WECOM_CORPID: corp.corpId,
    WECOM_APP_SECRET: corp.secret,
    WECOM_TOKEN: corp.token,
    WECOM_ENCODING_AES_KEY: corp.encodingAesKey,
    WECOM_OPEN_KFID: corp.openKfid,
    WECOM_API_BASE: apiBase,
    RELAY_AUTH_SECRET: corp.relaySecret,
    LOCALE: 'en',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

async function isReady(httpUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function waitReady(child: ManagedProcess, httpUrl: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: ExitInfo | null = null;
  void child.waitExit().then((info) => {
    exit = info;
  });
  while (Date.now() < deadline) {
    if (exit) throw child.diedError(exit);
    if (await isReady(httpUrl)) return;
    await sleep(100);
  }
  throw new ProcessStartError('PROCESS_NOT_READY', `${child.name}: ${httpUrl}/readyz was not 200 within ${timeoutMs} ms`, child.tail());
}

const START_ATTEMPTS = 3;

/**
 * Starts `packages/relay-node/src/main.ts` (or the compiled build, see `compiled`) and resolves once GET /readyz answers 200. Without PORT/WS_PORT in
 * `env` it picks free ports (retrying if another process grabs one first); without DATABASE_PATH it uses a
 * fresh temporary directory. HOST defaults to 127.0.0.1.
 */
export async function spawnRelayNode(env: RelayNodeEnv, options: SpawnRelayNodeOptions = {}): Promise<RelayNodeHandle> {
  const fixedPorts = env.PORT !== undefined || env.WS_PORT !== undefined;
  let lastError: unknown;
  for (let attempt = 1; attempt <= (fixedPorts ? 1 : START_ATTEMPTS); attempt += 1) {
    const ports = fixedPorts ? null : await reserveRelayPorts();
    const dataDir = env.DATABASE_PATH === undefined ? mkdtempSync(join(tmpdir(), 'relay-node-')) : null;
    const full: Record<string, string> = {};
    for (const [key, value] of Object.entries({
      HOST: '127.0.0.1',
      ...env,
      ...(ports ? { PORT: String(ports.port), WS_PORT: String(ports.wsPort) } : {}),
      ...(dataDir ? { DATABASE_PATH: join(dataDir, 'relay.db') } : {}),
    })) {
      if (value !== undefined) full[key] = value;
    }
    const host = full.HOST === '0.0.0.0' || full.HOST === undefined ? '127.0.0.1' : full.HOST;
    const httpUrl = `http://${host}:${full.PORT ?? '8080'}`;
    const wsUrl = `ws://${host}:${full.WS_PORT ?? '8081'}`;
    const child = new ManagedProcess({
      name: options.name ?? full.NODE_ID ?? 'relay-node',
      script: options.compiled ? 'packages/relay-node/dist/main.js' : 'packages/relay-node/src/main.ts',
      env: childEnv(full),
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
    const removeData = (): void => {
      if (dataDir && !options.keepData) rmSync(dataDir, { recursive: true, force: true });
    };
    const stop = async (): Promise<ExitInfo> => {
      const info = await child.stop(options.stopGraceMs ?? 8_000);
      removeData();
      return info;
    };
    try {
      await waitReady(child, httpUrl, options.readyTimeoutMs ?? 90_000);
      return {
        httpUrl,
        wsUrl,
        webhookUrl: `${httpUrl}/webhook`,
        pid: child.pid,
        logs: child.logs,
        env: full,
        process: child,
        kill: (signal = 'SIGKILL') => child.kill(signal),
        stop,
        waitExit: () => child.waitExit(),
        tail: (lines) => child.tail(lines),
      };
    } catch (err) {
      lastError = err;
      await stop();
      const portTaken = err instanceof ProcessStartError && err.tail.includes('EADDRINUSE');
      if (!portTaken) break;
    }
  }
  throw lastError;
}
