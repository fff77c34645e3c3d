import type { Cluster, Redis } from 'ioredis';
import type { Counter, Histogram } from 'prom-client';

/** The metrics a Redis client reports into. */
export interface RedisCommandMetrics {
  redisCommandDuration: Histogram<'command'>;
  redisCommandErrors: Counter<'command'>;
}

/**
 * Times every command this client sends and counts the failed ones, by command name (a fixed set: the relay's
 * own commands). Commands replayed from the offline queue after a reconnect pass through sendCommand again; each
 * is measured once, from its first issue, so the time spent waiting for Redis to come back shows in the latency.
 */
export function instrumentRedisCommands(redis: Redis | Cluster, metrics: RedisCommandMetrics): void {
  const seen = new WeakSet<object>();
  // A Cluster's sendCommand takes the same Command first (then where to send it), so one wrapper serves both.
  const client = redis as Redis;
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command, ...rest) => {
    if (!seen.has(command)) {
      seen.add(command);
      const labels = { command: command.name.toLowerCase() };
      const end = metrics.redisCommandDuration.startTimer(labels);
      command.promise.then(
        () => end(),
        () => {
          end();
          metrics.redisCommandErrors.inc(labels);
        },
      );
    }
    return send(command, ...rest);
  }) as Redis['sendCommand'];
}
