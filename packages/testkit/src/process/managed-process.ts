import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { RELAY_NODE_FLAGS } from './relay-node-flags.js';
import { REPO_ROOT, TSX_LOADER, repoPath } from './repo-paths.js';

/** How a process ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What to run and how. */
export interface ManagedProcessOptions {
  /** Short name used in diagnostics ("relay-node", "fake-wecom"). */
  name: string;
  /** Repository-relative entry point: TypeScript runs with the repo's tsx, compiled JavaScript (.js) with plain node. */
  script: string;
  /** The complete environment of the child. */
  env: NodeJS.ProcessEnv;
  /** How many output lines to keep (oldest dropped first); default 5000. */
  maxLogLines?: number;
  /** Called with every output line as it arrives (the demo mirrors them; tests usually don't). */
  onLine?: (line: string) => void;
}

/** Thrown when a process does not become ready or dies first; the message carries the output tail. */
export class ProcessStartError extends Error {
  /** PROCESS_EXITED: it died before it was ready; PROCESS_NOT_READY: it did not get ready in time. */
  readonly code: 'PROCESS_EXITED' | 'PROCESS_NOT_READY';
  /** The last output lines. */
  readonly tail: string;

  constructor(code: 'PROCESS_EXITED' | 'PROCESS_NOT_READY', message: string, tail: string) {
    super(`${message}\n--- last output ---\n${tail}`);
    this.name = 'ProcessStartError';
    this.code = code;
    this.tail = tail;
  }
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

/** Kills every process group still running when the test process itself exits, so nothing is orphaned. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** Bounds how long to wait for stdio to drain after exit: a stray grandchild could hold the pipes open. */
const STDIO_DRAIN_MS = 2_000;

/** Leads each child's process group and kills it if this process dies without stopping it. */
const GUARD_SCRIPT = fileURLToPath(new URL('./process-guard.mjs', import.meta.url));

/**
 * A TypeScript entry point (node with tsx as its loader) or a compiled one, in its own process group led by a small
 * guard process. Signals go to the whole group (guard and service), the way a terminal's Ctrl-C would, so nothing is
 * left behind; if this process dies abruptly the guard kills the group.
 */
export class ManagedProcess {
  readonly name: string;
  readonly pid: number;
  /** Every stdout and stderr line, interleaved in arrival order. */
  readonly logs: string[] = [];
  private readonly child: ChildProcess;
  private readonly maxLogLines: number;
  private readonly lineListeners = new Set<(line: string) => void>();
  private readonly exitPromise: Promise<ExitInfo>;
  private exitInfo: ExitInfo | null = null;
  private exitExpected = false;

  constructor(options: ManagedProcessOptions) {
    installExitHook();
    this.name = options.name;
    this.maxLogLines = options.maxLogLines ?? 5_000;
    if (options.onLine) this.lineListeners.add(options.onLine);
    // TESTKIT_NODE_FLAGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`) reaches compiled nodes: NODE_OPTIONS refuses some flags.
    const extra = process.env.TESTKIT_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
    // TypeScript runs in one node process with tsx as its loader, not under the tsx command: that command relays a
    // signal and, when the service's event loop does not answer within about 60 ms (a busy 2-core machine), exits
    // 143 itself, so a SIGTERM drain would be reported (and end) as a kill.
    const runner = /\.[cm]?js$/.test(options.script)
      ? [process.execPath, ...RELAY_NODE_FLAGS, ...extra]
      : [process.execPath, '--import', TSX_LOADER, ...extra];
    this.child = spawn(process.execPath, [GUARD_SCRIPT, ...runner, repoPath(options.script)], {
      cwd: REPO_ROOT,
      env: options.env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Never written: the guard only watches for this pipe to close, which happens when this process ends.
    this.child.stdin?.on('error', () => undefined);
    if (this.child.pid === undefined) {
      // spawn reports ENOENT and the like asynchronously; the exit promise below carries it.
      this.pid = -1;
    } else {
      this.pid = this.child.pid;
      live.add(this);
    }
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.addLine(line));
    }
    this.exitPromise = new Promise<ExitInfo>((resolve) => {
      let drainTimer: NodeJS.Timeout | undefined;
      const finish = (info: ExitInfo): void => {
        if (drainTimer) clearTimeout(drainTimer);
        if (this.exitInfo) return;
        this.exitInfo = info;
        live.delete(this);
        if (!this.exitExpected) {
          process.stderr.write(
            `[testkit] ${this.name} (pid ${this.pid}) exited unexpectedly (code ${info.code}, signal ${info.signal})\n${this.tail()}\n`,
          );
        }
        resolve(info);
      };
      this.child.once('error', (err) => {
        this.addLine(`[testkit] could not run ${options.script}: ${err.message}`);
        finish({ code: null, signal: null });
      });
      this.child.once('exit', (code, signal) => {
        drainTimer = setTimeout(() => finish({ code, signal }), STDIO_DRAIN_MS);
      });
      this.child.once('close', (code, signal) => finish({ code, signal }));
    });
  }

  /** True once the process has exited. */
  get exited(): boolean {
    return this.exitInfo !== null;
  }

  /** Resolves when the process has exited and its output is collected. */
  waitExit(): Promise<ExitInfo> {
    return this.exitPromise;
  }

  /** Sends a signal to the whole process group without waiting; the exit is then not reported as unexpected. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.exitInfo || this.pid < 0) return;
    this.exitExpected = true;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is already gone; the exit event follows or has happened.
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended. */
  async stop(graceMs = 5_000): Promise<ExitInfo> {
    if (this.exitInfo) return this.exitInfo;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exitPromise;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Calls `listener` for every later output line; returns the unsubscribe function. */
  onLine(listener: (line: string) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  /** Resolves with the first output line (already seen or later) that matches; rejects if the process exits first. */
  waitForLine(predicate: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.logs.find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        unsubscribe();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new ProcessStartError('PROCESS_NOT_READY', `${this.name} printed no expected line within ${timeoutMs} ms`, this.tail()));
      }, timeoutMs);
      const unsubscribe = this.onLine((line) => {
        if (!predicate(line)) return;
        cleanup();
        resolve(line);
      });
      void this.exitPromise.then((info) => {
        cleanup();
        reject(this.diedError(info));
      });
    });
  }

  /** The error describing an exit before readiness. */
  diedError(info: ExitInfo): ProcessStartError {
    return new ProcessStartError(
      'PROCESS_EXITED',
      `${this.name} exited before it was ready (code ${info.code}, signal ${info.signal})`,
      this.tail(),
    );
  }

  /** The last `lines` output lines, for diagnostics. */
  tail(lines = 40): string {
    return this.logs.slice(-lines).join('\n');
  }

  private addLine(line: string): void {
    this.logs.push(line);
    if (this.logs.length > this.maxLogLines) this.logs.splice(0, this.logs.length - this.maxLogLines);
    for (const listener of [...this.lineListeners]) listener(line);
  }
}

/** Keys a spawned service reads; stripped from the inherited environment so the caller's shell cannot leak in. */
const SERVICE_ENV_PREFIXES = ['WECOM_', 'RELAY_', 'FAKE_WECOM_', 'VITEST'];
const SERVICE_ENV_KEYS = new Set([
  'PORT',
  'WS_PORT',
  'HOST',
  'DATABASE_PATH',
  'LOCALE',
  'REDIS_URL',
  'BINDINGS_STORE',
  'NODE_ID',
  'LOG_LEVEL',
  'NODE_OPTIONS',
]);

/** The inherited environment minus anything a service would read, plus `overrides` (undefined values dropped). */
export function childEnv(overrides: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (SERVICE_ENV_KEYS.has(key) || SERVICE_ENV_PREFIXES.some((p) => key.startsWith(p))) continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) env[key] = value;
  }
  return env;
}
