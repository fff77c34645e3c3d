import { waitForPing } from './ping.js';
import { dockerUnavailableReason, startRedisContainer } from './redis-container.js';
import { RedisTestkitError, type RedisHandle } from './redis-handle.js';
import { findRedisServerBinary, spawnRedisServer } from './redis-server-process.js';

/** How a test wants its Redis. */
export interface StartRedisOptions {
  /** Keep data across restart() and kill() (AOF); default false. Ignored for REDIS_URL. */
  appendOnly?: boolean;
  /**
   * The test kills or restarts this Redis, so it must be the test's own even when REDIS_URL names a shared one:
   * a redis-server child or a container is started regardless of REDIS_URL.
   */
  restartable?: boolean;
  /**
   * Extra redis-server arguments (e.g. `['--maxmemory-policy', 'allkeys-lru']`). Like `restartable`, this makes the
   * server the test's own (a redis-server child only: a container or a shared server cannot take them).
   */
  serverArgs?: readonly string[];
}

/**
 * A Redis for a test: REDIS_URL when set (shared; kill/restart throw; give every store a unique key prefix),
 * else a redis-server child process on a free port, else a Docker container, else a clear error saying how to
 * get one. A `restartable` Redis is always the test's own.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisHandle> {
  const appendOnly = opts.appendOnly ?? false;
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv && !opts.restartable && !opts.serverArgs) return sharedRedis(fromEnv);

  const binary = findRedisServerBinary();
  if (binary) return spawnRedisServer({ binary, appendOnly, ...(opts.serverArgs ? { extraArgs: opts.serverArgs } : {}) });
  if (opts.serverArgs) {
    throw new RedisTestkitError('REDIS_UNAVAILABLE', 'This test starts redis-server with its own arguments; put redis-server on PATH or set REDIS_SERVER_BIN.');
  }

  const dockerProblem = await dockerUnavailableReason();
  if (dockerProblem === null) return startRedisContainer({ appendOnly });

  throw new RedisTestkitError(
    'REDIS_UNAVAILABLE',
    'No Redis is available for tests: there is no redis-server binary on PATH (install one, e.g. ' +
      '`apt-get install redis-server`, or point REDIS_SERVER_BIN at it), Docker is not usable ' +
      `(${dockerProblem})` +
      (opts.restartable
        ? ', and this test restarts Redis, so it cannot use the shared one REDIS_URL may name.'
        : ', and REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379 for a server you run).'),
  );
}

async function sharedRedis(url: string): Promise<RedisHandle> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new RedisTestkitError('REDIS_UNAVAILABLE', `REDIS_URL is not a URL: ${url}`, { cause: err });
  }
  const host = parsed.hostname || '127.0.0.1';
  const port = parsed.port ? Number(parsed.port) : 6379;
  if (parsed.protocol === 'redis:' && !(await waitForPing(host, port, { deadlineMs: 3000 }))) {
    throw new RedisTestkitError('REDIS_UNAVAILABLE', `REDIS_URL is set but nothing answers at ${host}:${port}`);
  }
  const notOwned = (): Promise<never> =>
    Promise.reject(
      new RedisTestkitError(
        'REDIS_NOT_OWNED',
        'This test needs its own Redis server (it kills or restarts it), but REDIS_URL points at a shared one. ' +
          'Unset REDIS_URL so the test kit spawns redis-server or uses Docker.',
      ),
    );
  return { url, host, port, ownServer: false, stop: async () => undefined, kill: notOwned, restart: notOwned };
}
