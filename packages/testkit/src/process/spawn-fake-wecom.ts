import { freePort } from '../redis/free-port.js';
import { ManagedProcess, ProcessStartError, childEnv, type ExitInfo } from './managed-process.js';
import type { TestCorp } from './test-corp.js';

// testkit's package.json does not list @wecom-relay/fake-wecom, so the control client is reached by path; the import
// is dynamic so that testkit (and the Redis helpers beside this file) still load while the fake is being changed.
type FakeWecomModule = typeof import('../../../fake-wecom/src/index.js');

/** The fake's typed control client. */
export type FakeWecomControlClient = InstanceType<FakeWecomModule['FakeWecomControl']>;

/** How to start a fake WeCom. */
export interface SpawnFakeWecomOptions {
  corp: TestCorp;
  /** Relay /webhook URLs the fake POSTs callbacks to. */
  callbackUrls?: string[];
  /** A fixed port; default a free one. */
  port?: number;
  /** Extra environment for the fake. */
  env?: Record<string, string | undefined>;
  /** How long to wait for the listening line; default 60 s (the first tsx compile is slow on a busy machine). */
  startTimeoutMs?: number;
  /** Mirrors every output line (the demo prints them). */
  onLine?: (line: string) => void;
}

/** A running fake WeCom. */
export interface FakeWecomHandle {
  /** Base URL, e.g. http://127.0.0.1:40123; give it to relays as WECOM_API_BASE. */
  url: string;
  control: FakeWecomControlClient;
  pid: number;
  /** Every output line so far. */
  logs: string[];
  /** The process, for waitForLine/tail. */
  process: ManagedProcess;
  /** Sends a signal to the fake's process group (default SIGKILL) without waiting. */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `graceMs` (default 5 s). */
  stop(graceMs?: number): Promise<ExitInfo>;
}

const START_ATTEMPTS = 3;

/** Reads `{"event":"listening","url":...}` from a line, or null. */
function listeningUrl(line: string): string | null {
  if (!line.startsWith('{')) return null;
  try {
    const parsed = JSON.parse(line) as { event?: unknown; url?: unknown };
    return parsed.event === 'listening' && typeof parsed.url === 'string' ? parsed.url : null;
  } catch {
    return null;
  }
}

/** Starts `packages/fake-wecom/src/main.ts` and resolves once it prints its listening line. */
export async function spawnFakeWecom(options: SpawnFakeWecomOptions): Promise<FakeWecomHandle> {
  const { FakeWecomControl } = (await import('../../../fake-wecom/src/index.js')) as FakeWecomModule;
  let lastError: unknown;
  // A port found free can be taken before the child binds it; only then is another port tried.
  for (let attempt = 1; attempt <= (options.port === undefined ? START_ATTEMPTS : 1); attempt += 1) {
    const port = options.port ?? (await freePort());
    const { corp } = options;
    const child = new ManagedProcess({
      name: 'fake-wecom',
      script: 'packages/fake-wecom/src/main.ts',
      env: childEnv({
        FAKE_WECOM_PORT: String(port),
        FAKE_WECOM_CORPID: corp.corpId,
        FAKE_WECOM_SECRET: corp.secret,
        FAKE_WECOM_TOKEN: corp.token,
        FAKE_WECOM_AES_KEY: corp.encodingAesKey,
        FAKE_WECOM_OPEN_KFID: corp.openKfid,
        FAKE_WECOM_CALLBACK_URLS: (options.callbackUrls ?? []).join(','),
        ...options.env,
      }),
      ...(options.onLine ? { onLine: options.onLine } : {}),
    });
    try {
      const line = await child.waitForLine((l) => listeningUrl(l) !== null, options.startTimeoutMs ?? 60_000);
      const url = (listeningUrl(line) ?? '').replace(/\/+$/, '');
      return {
        url,
        control: new FakeWecomControl(url),
        pid: child.pid,
        logs: child.logs,
        process: child,
        kill: (signal = 'SIGKILL') => child.kill(signal),
        stop: (graceMs?: number) => child.stop(graceMs),
      };
    } catch (err) {
      lastError = err;
      await child.stop();
      const portTaken = err instanceof ProcessStartError && err.tail.includes('EADDRINUSE');
      if (!portTaken) break;
    }
  }
  throw lastError;
}
