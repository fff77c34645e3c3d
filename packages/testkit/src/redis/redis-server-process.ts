import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.js';
import { waitForPing } from './ping.js';
import { RedisTestkitError, type RedisHandle } from './redis-handle.js';

const HOST = '127.0.0.1';
// Generous because seven engineers share two cores; a healthy server answers in milliseconds.
const START_DEADLINE_MS = 15_000;
const STOP_GRACE_MS = 5_000;

/** The redis-server executable: REDIS_SERVER_BIN if set, else the first one on PATH, else null. */
export function findRedisServerBinary(env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates = env.REDIS_SERVER_BIN
    ? [env.REDIS_SERVER_BIN]
    : (env.PATH ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, 'redis-server'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  return null;
}

/** Options for a spawned server. */
export interface SpawnRedisOptions {
  binary: string;
  appendOnly: boolean;
  /** More `--name value` arguments for redis-server (e.g. `--maxmemory-policy allkeys-lru`); given after the defaults. */
  extraArgs?: readonly string[];
  /** A second free port is probed and passed to `portArg` (e.g. `--cluster-port`), so both are free together. */
  secondPortArg?: string;
}

/** A redis-server child process started by the test kit. */
export interface SpawnedRedis extends RedisHandle {
  /** The process id while it runs (for SIGKILL from a test), else null. */
  readonly pid: number | null;
  /** The second port when `secondPortArg` was asked for, else null. */
  readonly secondPort: number | null;
}

/**
 * Spawns redis-server on a free port with its own temp dir and waits until it answers PING. Retries on a
 * fresh port when the first one was taken between probing and binding.
 */
export async function spawnRedisServer(opts: SpawnRedisOptions): Promise<SpawnedRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'wecom-relay-redis-'));
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = await freePort(HOST);
    const secondPort = opts.secondPortArg ? await freePort(HOST) : null;
    const server = new LocalRedisServer(opts, port, dir, secondPort);
    try {
      await server.start();
      return server;
    } catch (err) {
      lastError = err;
      await server.abandon();
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

// Without this a test that crashes before stop() leaves redis-server processes running forever.
const running = new Set<LocalRedisServer>();
let exitHookInstalled = false;
function trackForExit(server: LocalRedisServer): void {
  running.add(server);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const s of running) s.killSync();
  });
}

class LocalRedisServer implements SpawnedRedis {
  readonly host = HOST;
  readonly url: string;
  readonly ownServer = true;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly opts: SpawnRedisOptions,
    readonly port: number,
    private readonly dir: string,
    readonly secondPort: number | null = null,
  ) {
    this.url = `redis://${HOST}:${port}`;
    trackForExit(this);
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  /** Last-resort cleanup from the process 'exit' hook, where only synchronous work runs. */
  killSync(): void {
    this.child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Kills a server that failed to start, leaving the shared data dir to the next attempt. */
  async abandon(): Promise<void> {
    running.delete(this);
    await this.kill();
  }

  /** Spawns the process and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.stopped) throw new RedisTestkitError('REDIS_START_FAILED', 'this Redis handle was stopped');
    const logFile = join(this.dir, 'redis.log');
    const child = spawn(
      this.opts.binary,
      [
        '--port', String(this.port),
        '--bind', HOST,
        '--dir', this.dir,
        '--save', '',
        '--appendonly', this.opts.appendOnly ? 'yes' : 'no',
        // fsync every write: a test that SIGKILLs the server expects every acknowledged write back.
        '--appendfsync', 'always',
        '--daemonize', 'no',
        '--logfile', logFile,
        ...(this.opts.secondPortArg && this.secondPort !== null ? [this.opts.secondPortArg, String(this.secondPort)] : []),
        ...(this.opts.extraArgs ?? []),
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    let gone = false;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        gone = true;
        if (this.child === child) this.child = null;
        resolve();
      });
      child.once('error', () => {
        gone = true;
        if (this.child === child) this.child = null;
        resolve();
      });
    });
    const up = await waitForPing(HOST, this.port, { deadlineMs: START_DEADLINE_MS, isGone: () => gone });
    if (!up) {
      const tail = readTail(logFile);
      throw new RedisTestkitError(
        'REDIS_START_FAILED',
        `redis-server did not answer PING on ${HOST}:${this.port}` + (tail ? `; its log ends with:\n${tail}` : ''),
      );
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.terminate();
    running.delete(this);
    await rm(this.dir, { recursive: true, force: true });
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new RedisTestkitError('REDIS_START_FAILED', 'cannot restart a Redis handle after stop()');
    await this.terminate();
    await this.start();
  }

  private async terminate(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-10).join('\n');
  } catch {
    return '';
  }
}
