import { Redis, type RedisOptions } from 'ioredis';
import { RelayError } from '../../errors/relay-error.js';
import { isClusterClient, type RedisClient } from './redis-client.js';
import type { StateLogger } from './state-logger.js';

/**
 * The oldest Redis whose commands the relay uses: SET ... GET and XTRIM MINID need 6.2; a cluster's bus needs
 * sharded pub/sub (SSUBSCRIBE/SPUBLISH), new in 7.0.
 */
export const MIN_REDIS_VERSION = '6.2.0';
/** The oldest Redis a cluster may run (sharded pub/sub). */
export const MIN_REDIS_CLUSTER_VERSION = '7.0.0';

/** What {@link preflightRedis} found, for the start-up log line. */
export interface RedisPreflightReport {
  /** One entry per server checked (every node of a cluster). */
  servers: Array<{ address: string; version: string; maxmemoryPolicy: string | null }>;
}

/**
 * Checks once, at start-up, that the Redis a node is given can hold the relay's state, and refuses clearly
 * (REDIS_UNSUITABLE) when it cannot: a version without the commands used; an eviction policy other than
 * `noeviction` (an evicted queue, fence or cursor is silent loss); a cluster that is not `cluster_state:ok`.
 * Where CONFIG GET is not allowed (managed services rename or forbid it), the policy cannot be read: a warning
 * says so instead of refusing. Every server of a cluster is checked, replicas too, since any may be promoted.
 */
export async function preflightRedis(client: RedisClient, logger: StateLogger): Promise<RedisPreflightReport> {
  const cluster = isClusterClient(client);
  return await preflightServers(cluster ? client.nodes('all') : [client], cluster, logger);
}

async function preflightServers(servers: Redis[], cluster: boolean, logger: StateLogger): Promise<RedisPreflightReport> {
  if (servers.length === 0) throw new Error('the Redis Cluster client knows no node yet');
  const checked = await Promise.allSettled(servers.map((server) => checkServer(server, cluster, logger)));
  const report: RedisPreflightReport = { servers: [] };
  // An unsuitable server refuses the start even when others did not answer; a cluster goes on without a node that
  // does not answer (a replica being restarted), but not without any.
  for (const r of checked) if (r.status === 'rejected' && r.reason instanceof RelayError) throw r.reason;
  for (const [i, r] of checked.entries()) {
    if (r.status === 'fulfilled') report.servers.push(r.value);
    else if (cluster) logger.warn({ err: r.reason, address: addressOf(servers[i]!) }, 'a Redis Cluster node did not answer the start-up checks');
  }
  if (report.servers.length === 0) {
    const first = checked.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    throw first?.reason instanceof Error ? first.reason : new Error('no Redis server answered the start-up checks');
  }
  return report;
}

async function checkServer(server: Redis, cluster: boolean, logger: StateLogger): Promise<RedisPreflightReport['servers'][number]> {
  const address = addressOf(server);
  if (cluster) {
    const state = parseInfo(String(await server.cluster('INFO'))).get('cluster_state');
    if (state !== 'ok') {
      throw new RelayError(
        'REDIS_UNSUITABLE',
        `Redis Cluster node ${address} reports cluster_state:${state ?? 'unknown'}; the relay needs cluster_state:ok`,
      );
    }
  }
  const version = await redisVersion(server);
  const min = cluster ? MIN_REDIS_CLUSTER_VERSION : MIN_REDIS_VERSION;
  if (version === null) {
    logger.warn({ address }, `could not read the Redis version (INFO is not allowed here); make sure it is ${min} or newer`);
  } else if (compareVersions(version, min) < 0) {
    throw new RelayError(
      'REDIS_UNSUITABLE',
      `Redis ${version} at ${address} is too old: the relay needs Redis ${min} or newer` +
        (cluster ? ' in a cluster (sharded pub/sub)' : ' (SET ... GET, XTRIM MINID)'),
    );
  }
  const policy = await maxmemoryPolicy(server);
  if (policy === null) {
    logger.warn(
      { address },
      'could not read maxmemory-policy (CONFIG GET is not allowed here); make sure it is noeviction, or Redis may evict queued events and fences under memory pressure',
    );
  } else if (policy !== 'noeviction') {
    throw new RelayError(
      'REDIS_UNSUITABLE',
      `Redis at ${address} has maxmemory-policy ${policy}: the relay needs noeviction, because an evicted queue, ` +
        'cursor or fence is lost without a trace (set `maxmemory-policy noeviction`)',
    );
  }
  return { address, version: version ?? 'unknown', maxmemoryPolicy: policy };
}

async function redisVersion(server: Redis): Promise<string | null> {
  try {
    return parseInfo(String(await server.info('server'))).get('redis_version') ?? null;
  } catch (err) {
    if (isNotAllowed(err)) return null;
    throw err;
  }
}

/** NOPERM (ACL), an unknown or renamed command: the server is usable, just not inspectable this way. */
function isNotAllowed(err: unknown): boolean {
  return err instanceof Error && /^(NOPERM|ERR unknown command)/i.test(err.message);
}

function addressOf(server: Redis): string {
  return `${server.options.host ?? '?'}:${server.options.port ?? '?'}`;
}

async function maxmemoryPolicy(server: Redis): Promise<string | null> {
  try {
    const reply = (await server.config('GET', 'maxmemory-policy')) as unknown;
    if (Array.isArray(reply) && typeof reply[1] === 'string') return reply[1];
    return null;
  } catch (err) {
    if (isNotAllowed(err)) return null;
    throw err;
  }
}

function parseInfo(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) map.set(line.slice(0, at), line.slice(at + 1).trim());
  }
  return map;
}

/** Compares dotted versions numerically (7.0.15 > 7.0.9). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i += 1) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** How long start-up waits for Redis to answer before it defers the checks to the first connection. */
const START_WAIT_MS = 5_000;

/** The outcome of the start-up checks as the backend's readiness sees it. */
export interface RedisPreflightGate {
  /** False until the checks passed (they may run after start when Redis was away), and forever if they failed. */
  passed(): boolean;
}

/**
 * Runs {@link preflightRedis} when the backend starts. An unsuitable Redis rejects (the node exits with one fatal
 * line). A Redis that does not answer yet does not stop the start: the checks run on the first connection, and
 * until they pass the gate keeps the node unready; if they fail then, one fatal line says why and it stays unready.
 */
export async function checkRedisAtStart(
  client: RedisClient,
  logger: StateLogger,
  /** A cluster's seed nodes, asked directly when the cluster does not become ready (its client never does while it fails). */
  clusterSeeds: ReadonlyArray<{ host: string; port: number }> = [],
  connectOptions: RedisOptions = {},
): Promise<RedisPreflightGate> {
  let state: 'pending' | 'passed' | 'failed' = 'pending';
  const gate: RedisPreflightGate = { passed: () => state === 'passed' };
  try {
    let ready = true;
    try {
      await whenReady(client, START_WAIT_MS);
    } catch (err) {
      if (!isClusterClient(client) || clusterSeeds.length === 0) throw err;
      ready = false;
    }
    if (ready) await preflightRedis(client, logger);
    else {
      // A cluster that is not ok never becomes ready (ioredis' ready check); its seeds can still say why. Passing
      // here is not enough: the checks run again on the client once it is ready.
      await probeSeeds(clusterSeeds, connectOptions, logger);
      throw new Error('the Redis Cluster client is not ready yet');
    }
    state = 'passed';
    return gate;
  } catch (err) {
    if (err instanceof RelayError && err.code === 'REDIS_UNSUITABLE') throw err;
    logger.warn({ err }, 'Redis did not answer the start-up checks; they run once it does, and the node stays unready until then');
  }
  const retry = (): void => {
    preflightRedis(client, logger).then(
      () => {
        state = 'passed';
        logger.info({}, 'Redis passed the start-up checks');
      },
      (err: unknown) => {
        if (err instanceof RelayError && err.code === 'REDIS_UNSUITABLE') {
          state = 'failed';
          logger.error({ err, code: err.code }, err.message);
        } else {
          client.once('ready', retry);
        }
      },
    );
  };
  if (client.status === 'ready') retry();
  else client.once('ready', retry);
  return gate;
}

async function probeSeeds(
  seeds: ReadonlyArray<{ host: string; port: number }>,
  connectOptions: RedisOptions,
  logger: StateLogger,
): Promise<void> {
  const servers = seeds.map(
    (s) => new Redis({ ...connectOptions, host: s.host, port: s.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null }),
  );
  for (const server of servers) server.on('error', () => undefined);
  try {
    await preflightServers(servers, true, logger);
  } finally {
    for (const server of servers) server.disconnect();
  }
}

function whenReady(client: RedisClient, deadlineMs: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`Redis was not ready within ${deadlineMs} ms`));
    }, deadlineMs);
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', onReady);
  });
}
