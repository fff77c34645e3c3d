import { freePort } from './free-port.js';
import { RedisTestkitError, type RedisHandle } from './redis-handle.js';

/** Why Docker cannot be used, or null when it can. Loads testcontainers only when asked. */
export async function dockerUnavailableReason(): Promise<string | null> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Starts redis in a container with a fixed host port, so restart() keeps the address. kill() is
 * `docker stop -t 0` (SIGKILL right after SIGTERM), the closest Docker offers to a crash.
 */
export async function startRedisContainer(opts: { appendOnly: boolean }): Promise<RedisHandle> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const hostPort = await freePort();
  const started = await new GenericContainer('redis:7-alpine')
    .withExposedPorts({ container: 6379, host: hostPort })
    .withCommand(['redis-server', '--save', '', '--appendonly', opts.appendOnly ? 'yes' : 'no', '--appendfsync', 'always'])
    .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
    .start();
  const host = started.getHost();
  let stopped = false;
  return {
    host,
    port: hostPort,
    url: `redis://${host}:${hostPort}`,
    ownServer: true,
    async stop() {
      if (stopped) return;
      stopped = true;
      await started.stop({ timeout: 0, remove: true });
    },
    async kill() {
      await started.stop({ timeout: 0, remove: false });
    },
    async restart() {
      if (stopped) throw new RedisTestkitError('REDIS_START_FAILED', 'cannot restart a Redis container after stop()');
      await started.restart();
    },
  };
}
