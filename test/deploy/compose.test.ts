import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { repoPath, testCorp } from '@wecom-relay/testkit';
import {
  ComposeWorkspace,
  composeDurationSeconds,
  composeMounts,
  composePublishedPorts,
  type ComposeProject,
  type ComposeService,
} from './support/compose-project.js';
import { haproxySection, haproxyServers, parseHaproxyConfig } from './support/haproxy-config.js';
import { requireBinary } from './support/require-binary.js';
import { runTool } from './support/run-tool.js';
import {
  SECRET_ENV_NAMES,
  effectiveDrainSpreadMs,
  relayEnvProblems,
  requiredRelayEnvNames,
  shutdownBudgetSeconds,
  unknownRelayEnvNames,
} from './support/relay-env.js';

const COMPOSE_DIR = repoPath('deploy/compose');
const CLUSTER_FILE = 'docker-compose.yml';
const SINGLE_FILE = 'docker-compose.single.yml';
const REDIS_CLUSTER_FILE = 'docker-compose.redis-cluster.yml';

// docker-compose must be installed (CI installs Debian's package); ComposeWorkspace throws saying so otherwise.
const workspace = new ComposeWorkspace(COMPOSE_DIR);
afterAll(() => workspace.dispose());

const cluster: ComposeProject = workspace.resolve(CLUSTER_FILE);
const single: ComposeProject = workspace.resolve(SINGLE_FILE);
const onRedisCluster: ComposeProject = workspace.resolve(REDIS_CLUSTER_FILE);
const exampleEnv = parseEnvFile(readFileSync(join(COMPOSE_DIR, '.env.example'), 'utf8'));

function parseEnvFile(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match?.[1]) entries.set(match[1], match[2] ?? '');
  }
  return entries;
}

/** Services that run the relay image (they read RELAY_AUTH_SECRET). */
function relayServices(project: ComposeProject): [string, ComposeService][] {
  return Object.entries(project.services).filter(([, s]) => s.environment && 'RELAY_AUTH_SECRET' in s.environment);
}

function service(project: ComposeProject, name: string): ComposeService {
  const found = project.services[name];
  if (!found) throw new Error(`compose project has no service ${name}`);
  return found;
}

function healthcheckCommand(s: ComposeService): string {
  const test = s.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : (test ?? '');
}

/** The environment keys written in the compose file itself (not the ones env_file brings in). */
function inlineEnvironmentKeys(file: string): string[] {
  const raw = parseYaml(readFileSync(join(COMPOSE_DIR, file), 'utf8'), { merge: true }) as {
    services: Record<string, { environment?: Record<string, unknown> }>;
  };
  return Object.values(raw.services).flatMap((s) => Object.keys(s.environment ?? {}));
}

function expectRelayDrainsAndIsChecked(name: string, s: ComposeService): void {
  const env = s.environment ?? {};
  const spreadMs = effectiveDrainSpreadMs(env.DRAIN_SPREAD_MS ?? undefined);
  expect({ name, stopSignal: s.stop_signal ?? 'SIGTERM' }).toEqual({ name, stopSignal: 'SIGTERM' });
  // Compose's default is 10 s; a node cut off by SIGKILL mid-drain drops its last gateways and replies.
  expect(composeDurationSeconds(s.stop_grace_period ?? '10s'), `${name} stop_grace_period`).toBeGreaterThan(
    shutdownBudgetSeconds(spreadMs),
  );
  expect(healthcheckCommand(s), `${name} health check`).toContain(`:${env.PORT ?? '8080'}/healthz`);
  expect(s.read_only, `${name} read_only`).toBe(true);
  expect([s.tmpfs ?? []].flat(), `${name} tmpfs`).toContain('/tmp');
}

describe('compose files are accepted by docker-compose', () => {
  it.each([CLUSTER_FILE, SINGLE_FILE, REDIS_CLUSTER_FILE])('docker-compose -f %s config -q succeeds', (file) => {
    expect(() => workspace.validate(file)).not.toThrow();
  });

  it('pins every image to a tag other than latest', () => {
    const images = [cluster, single, onRedisCluster].flatMap((p) => Object.values(p.services)).map((s) => s.image ?? '');
    for (const image of images) {
      expect(image, 'every service runs an image').not.toBe('');
      const lastSegment = image.slice(image.lastIndexOf('/') + 1);
      expect(lastSegment, `${image} has an explicit tag`).toMatch(/:(?!latest$).+$/);
    }
  });
});

describe('cluster (docker-compose.yml)', () => {
  const relays = relayServices(cluster);
  const haproxy = service(cluster, 'haproxy');
  const redis = service(cluster, 'redis');

  it('runs three relay nodes, each with its own NODE_ID, sharing the bundled Redis', () => {
    expect(relays.map(([name]) => name).sort()).toEqual(['relay-1', 'relay-2', 'relay-3']);
    const ids = relays.map(([, s]) => s.environment?.NODE_ID);
    expect(new Set(ids).size).toBe(3);
    for (const [name, s] of relays) {
      const url = new URL(s.environment?.REDIS_URL ?? '');
      expect(url.hostname, `${name} REDIS_URL host`).toBe('redis');
      const dependsOn = s.depends_on as Record<string, { condition?: string }> | undefined;
      expect(dependsOn?.redis?.condition, `${name} waits for a healthy Redis`).toBe('service_healthy');
    }
  });

  it('lets every node finish draining before compose kills it, and health-checks it on /healthz', () => {
    for (const [name, s] of relays) expectRelayDrainsAndIsChecked(name, s);
  });

  it('keeps Redis durable: append-only file on a named volume, with a health check', () => {
    const argv = [redis.command ?? []].flat().join(' ');
    expect(argv).toMatch(/--appendonly yes/);
    const data = composeMounts(redis).find((m) => m.target === '/data');
    expect(data?.source).toBeDefined();
    expect(Object.keys(cluster.volumes ?? {})).toContain(data?.source);
    expect(healthcheckCommand(redis)).toContain('ping');
  });

  it('trusts exactly the balancer: TRUSTED_PROXIES is haproxy’s fixed address', () => {
    const networks = haproxy.networks as Record<string, { ipv4_address?: string } | null>;
    const addresses = Object.values(networks).map((n) => n?.ipv4_address).filter(Boolean);
    expect(addresses).toHaveLength(1);
    for (const [, s] of relays) expect(s.environment?.TRUSTED_PROXIES).toBe(addresses[0]);
  });

  it('publishes only the balancer, on the webhook and WebSocket ports (never the nodes\' /metrics port)', () => {
    expect(composePublishedPorts(haproxy).sort()).toEqual([8080, 8081]);
    for (const [name, s] of relays) expect(Number(s.environment?.METRICS_PORT ?? 9464), `${name} METRICS_PORT`).not.toBe(8080);
    for (const [name, s] of [...relays, ['redis', redis] as const]) {
      expect(composePublishedPorts(s), `${name} publishes nothing`).toEqual([]);
    }
    expect(composeMounts(haproxy).map((m) => m.target)).toContain('/usr/local/etc/haproxy/haproxy.cfg');
  });

  it('keeps credentials out of the compose file: they come from .env', () => {
    const inline = inlineEnvironmentKeys(CLUSTER_FILE);
    expect(inline.filter((k) => SECRET_ENV_NAMES.includes(k) && k !== 'REDIS_URL')).toEqual([]);
  });
});

describe('haproxy.cfg', () => {
  const haproxyBin = requireBinary('haproxy', "apt-get install haproxy (Debian's package; .ci/run installs it)");
  const cfgPath = join(COMPOSE_DIR, 'haproxy.cfg');
  const sections = parseHaproxyConfig(readFileSync(cfgPath, 'utf8'));
  const relays = relayServices(cluster);

  /** The backend a frontend bound to this port sends to. */
  function backendFor(port: number): ReturnType<typeof haproxySection> {
    const frontend = sections.find((s) => s.type === 'frontend' && s.lines.some((l) => new RegExp(`^bind \\S*:${port}\\b`).test(l)));
    if (!frontend) throw new Error(`no frontend binds :${port}`);
    const backendName = frontend.lines.find((l) => l.startsWith('default_backend '))?.split(' ')[1] ?? '';
    return haproxySection(sections, 'backend', backendName);
  }

  it('is a configuration haproxy accepts (haproxy -c)', () => {
    expect(() => runTool(haproxyBin, ['-c', '-f', cfgPath])).not.toThrow();
  });

  it('sends webhooks round robin and WebSockets to the least-loaded node with a tunnel timeout', () => {
    const http = backendFor(8080);
    const ws = backendFor(8081);
    expect(http.lines).toContain('balance roundrobin');
    expect(ws.lines).toContain('balance leastconn');
    expect(ws.lines.some((l) => l.startsWith('timeout tunnel '))).toBe(true);
  });

  it('adds X-Forwarded-For and checks /readyz on each node’s HTTP port', () => {
    const defaults = haproxySection(sections, 'defaults', '');
    for (const backend of [backendFor(8080), backendFor(8081)]) {
      const lines = [...defaults.lines, ...backend.lines];
      expect(lines, backend.name).toContain('option forwardfor');
      expect(lines, backend.name).toContain('option httpchk');
      expect(lines.find((l) => l.startsWith('http-check send')), backend.name).toMatch(/uri \/readyz\b/);
      expect(lines, backend.name).toContain('http-check expect status 200');
    }
    for (const server of haproxyServers(backendFor(8081))) {
      expect(server.options.join(' '), `ws server ${server.name}`).toMatch(/\bcheck port 8080\b/);
    }
  });

  it('balances over exactly the compose file’s relay nodes, on the ports they listen on', () => {
    const names = relays.map(([name]) => name).sort();
    for (const [port, setting] of [[8080, 'PORT'], [8081, 'WS_PORT']] as const) {
      const servers = haproxyServers(backendFor(port));
      expect(servers.map((s) => s.host).sort()).toEqual(names);
      for (const [name, s] of relays) {
        expect(servers.find((sv) => sv.host === name)?.port, `${name} ${setting}`).toBe(Number(s.environment?.[setting]));
      }
    }
  });
});

describe('Redis Cluster variant (docker-compose.redis-cluster.yml)', () => {
  const relays = relayServices(onRedisCluster);
  const haproxy = service(onRedisCluster, 'haproxy');
  const create = service(onRedisCluster, 'redis-cluster-create');
  const argvOf = (s: ComposeService) => [s.command ?? []].flat().join(' ');
  const redisNodes = Object.entries(onRedisCluster.services).filter(([, s]) => /--cluster-enabled yes/.test(argvOf(s)));
  const addressOf = (s: ComposeService) =>
    Object.values(s.networks as Record<string, { ipv4_address?: string } | null>).map((n) => n?.ipv4_address).find(Boolean);

  it('runs six redis-server nodes in cluster mode, each append-only on its own volume, noeviction, health-checked, unpublished', () => {
    expect(redisNodes).toHaveLength(6);
    const volumes = new Set<string>();
    for (const [name, s] of redisNodes) {
      const argv = argvOf(s);
      expect(argv, name).toMatch(/^redis-server /);
      expect(argv, name).toMatch(/--appendonly yes/);
      // The relay refuses any other policy at start (an evicted queue is silent loss).
      expect(argv, name).toMatch(/--maxmemory-policy noeviction/);
      expect(Number(/redis:(\d+)/.exec(s.image ?? '')?.[1]), `${name} runs Redis 7 or later (sharded pub/sub)`).toBeGreaterThanOrEqual(7);
      expect(healthcheckCommand(s), name).toContain('ping');
      expect(composePublishedPorts(s), `${name} publishes nothing`).toEqual([]);
      const data = composeMounts(s).find((m) => m.target === '/data');
      expect(Object.keys(onRedisCluster.volumes ?? {}), `${name} keeps /data on a named volume`).toContain(data?.source);
      volumes.add(data!.source);
      expect(addressOf(s), `${name} has a fixed address (nodes.conf names it)`).toBeDefined();
    }
    expect(volumes.size, 'one volume per node').toBe(6);
  });

  it('joins exactly those six nodes as three masters with a replica each, once, and waits for cluster_state:ok', () => {
    const script = argvOf(create);
    const created = /--cluster create ((?:\S+:\d+ )+)--cluster-replicas (\d+)/.exec(script);
    expect(created, script).not.toBeNull();
    expect(created![1]!.trim().split(' ').sort()).toEqual(redisNodes.map(([, s]) => `${addressOf(s)}:6379`).sort());
    expect(created![2]).toBe('1');
    // A second `up` must not try to create the cluster again (redis-cli would refuse non-empty nodes and fail).
    expect(script).toMatch(/cluster_known_nodes:6[\s\S]*then[\s\S]*else[\s\S]*--cluster create/);
    expect(script).toMatch(/until .*cluster_state:ok/);
    const waitsFor = create.depends_on as Record<string, { condition?: string }>;
    for (const [name] of redisNodes) expect(waitsFor[name]?.condition, `create waits for ${name}`).toBe('service_healthy');
    expect(composePublishedPorts(create)).toEqual([]);
  });

  it('runs three relay nodes seeded with every cluster node, started once the cluster is created, and no REDIS_URL', () => {
    expect(relays.map(([name]) => name).sort()).toEqual(['relay-1', 'relay-2', 'relay-3']);
    expect(new Set(relays.map(([, s]) => s.environment?.NODE_ID)).size).toBe(3);
    for (const [name, s] of relays) {
      const seeds = (s.environment?.REDIS_CLUSTER_NODES ?? '').split(',').map((seed) => seed.split(':')[0]).sort();
      expect(seeds, `${name} REDIS_CLUSTER_NODES`).toEqual(redisNodes.map(([node]) => node).sort());
      expect(s.environment?.REDIS_URL ?? '', `${name} REDIS_URL`).toBe('');
      const dependsOn = s.depends_on as Record<string, { condition?: string }>;
      expect(dependsOn['redis-cluster-create']?.condition, name).toBe('service_completed_successfully');
      expectRelayDrainsAndIsChecked(name, s);
      expect(s.environment?.TRUSTED_PROXIES, `${name} trusts exactly the balancer`).toBe(addressOf(haproxy));
    }
  });

  it('publishes only the balancer, on the webhook and WebSocket ports, balancing over its relay nodes', () => {
    expect(composePublishedPorts(haproxy).sort()).toEqual([8080, 8081]);
    const cfg = parseHaproxyConfig(readFileSync(join(COMPOSE_DIR, 'haproxy.cfg'), 'utf8'));
    const servers = cfg.filter((section) => section.type === 'backend').flatMap((section) => haproxyServers(section).map((srv) => srv.host));
    for (const [name] of relays) expect(servers, `haproxy.cfg names ${name}`).toContain(name);
  });

  it('keeps credentials out of the compose file: they come from .env', () => {
    expect(inlineEnvironmentKeys(REDIS_CLUSTER_FILE).filter((k) => SECRET_ENV_NAMES.includes(k))).toEqual([]);
  });
});

describe('single node (docker-compose.single.yml)', () => {
  const relays = relayServices(single);

  it('runs one node on SQLite kept on a named volume', () => {
    expect(relays).toHaveLength(1);
    const [name, s] = relays[0]!;
    expect(s.environment?.REDIS_URL ?? '', `${name} has no Redis`).toBe('');
    const dbPath = s.environment?.DATABASE_PATH ?? '';
    const mount = composeMounts(s).find((m) => dbPath.startsWith(`${m.target}/`));
    expect(mount, `a volume holds ${dbPath}`).toBeDefined();
    expect(Object.keys(single.volumes ?? {})).toContain(mount?.source);
  });

  it('lets the node finish draining before compose kills it, and health-checks it', () => {
    const [name, s] = relays[0]!;
    expectRelayDrainsAndIsChecked(name, s);
    expect(composePublishedPorts(s).sort()).toEqual([Number(s.environment?.PORT), Number(s.environment?.WS_PORT)].sort());
  });

  it('keeps credentials out of the compose file', () => {
    expect(inlineEnvironmentKeys(SINGLE_FILE).filter((k) => SECRET_ENV_NAMES.includes(k))).toEqual([]);
  });
});

describe('.env.example', () => {
  it('names only variables the relay reads', () => {
    expect(unknownRelayEnvNames(exampleEnv.keys())).toEqual([]);
    for (const project of [cluster, single, onRedisCluster]) {
      for (const [name, s] of relayServices(project)) {
        expect(unknownRelayEnvNames(Object.keys(s.environment ?? {})), name).toEqual([]);
      }
    }
  });

  it('lists every variable an operator must set that the compose files do not set', () => {
    const setByCompose = new Set(inlineEnvironmentKeys(CLUSTER_FILE));
    // The Redis Cluster variant reads the same .env, so it must set no more of the required ones itself.
    for (const key of inlineEnvironmentKeys(REDIS_CLUSTER_FILE)) if (requiredRelayEnvNames().includes(key)) expect(setByCompose).toContain(key);
    const missing = requiredRelayEnvNames().filter((name) => !exampleEnv.has(name) && !setByCompose.has(name));
    expect(missing).toEqual([]);
  });

  it('once filled in, gives every relay service an environment a node starts with', () => {
    const corp = testCorp();
    const filled = {
      WECOM_CORPID: corp.corpId,
      WECOM_APP_SECRET: corp.secret,
      WECOM_TOKEN: corp.token,
      WECOM_ENCODING_AES_KEY: corp.encodingAesKey,
      WECOM_OPEN_KFID: corp.openKfid,
      RELAY_AUTH_SECRET: corp.relaySecret,
    };
    for (const project of [cluster, single, onRedisCluster]) {
      for (const [name, s] of relayServices(project)) {
        // .env fills only what compose leaves empty; the compose file's own values win, as in `environment:`.
        const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v || filled[k as keyof typeof filled] || '']));
        expect(relayEnvProblems(env), name).toEqual([]);
      }
    }
  });

  it('holds no credentials: every secret is left for the operator to fill in', () => {
    const filled = SECRET_ENV_NAMES.filter((name) => (exampleEnv.get(name) ?? '') !== '');
    expect(filled).toEqual([]);
  });
});
