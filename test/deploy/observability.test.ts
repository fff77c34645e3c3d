import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { repoPath, startRedis, type RedisHandle } from '@wecom-relay/testkit';
import { ComposeWorkspace, composeMounts, composePublishedPorts } from './support/compose-project.js';
import { renderKustomization } from './support/kustomize-render.js';
import { validateK8sObject, type K8sObject } from './support/k8s-schema.js';
import { exposedMetricNames, promqlMetricNames } from './support/promql-names.js';
import { requireBinary } from './support/require-binary.js';
import { runTool } from './support/run-tool.js';
import { bindByScan } from '../e2e/support/binding-steps.js';
import { newUserId, startRelayStack, type RelayStack } from '../e2e/support/relay-stack.js';

const PROM_DIR = repoPath('deploy/observability/prometheus');
const RULES_FILE = join(PROM_DIR, 'relay-alerts.rules.yml');
const DASHBOARD_FILE = repoPath('deploy/observability/grafana/dashboards/wecom-relay.json');
const RUNBOOK_FILE = repoPath('docs/runbook.md');
const METRICS_PORT = 9464;

const promtool = requireBinary('promtool', "apt-get install prometheus (Debian's package ships promtool; .ci/run installs it)");

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  annotations?: Record<string, string>;
}
const ruleFile = parseYaml(readFileSync(RULES_FILE, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
const alerts = ruleFile.groups.flatMap((g) => g.rules).filter((r) => r.alert);

interface Panel {
  title?: string;
  type: string;
  targets?: { expr?: string; datasource?: { uid?: string } }[];
  panels?: Panel[];
}
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { uid: string; panels: Panel[] };
const dashboardExprs = dashboard.panels
  .flatMap((p) => [p, ...(p.panels ?? [])])
  .flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title ?? p.type, expr: t.expr ?? '' })));

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
}

describe('alert rules (promtool)', () => {
  it('are valid rules: promtool check rules', () => {
    const { stdout } = runTool(promtool, ['check', 'rules', RULES_FILE]);
    expect(stdout).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it('fire and stay quiet as their unit tests say: promtool test rules', () => {
    const { stdout } = runTool(promtool, ['test', 'rules', 'relay-alerts.test.yml'], { cwd: PROM_DIR });
    expect(stdout).toContain('SUCCESS');
  });

  it('cover what an operator must hear about', () => {
    const exprs = alerts.map((a) => a.expr).join('\n');
    for (const metric of [
      'relay_sync_last_success_timestamp_seconds',
      'relay_queue_oldest_event_age_seconds',
      'relay_queue_dropped_total',
      'relay_wecom_api_calls_total',
      'relay_wecom_token_refreshes_total',
      'relay_ready',
      'relay_state_backend_up',
      'relay_redis_command_errors_total',
    ]) {
      expect(exprs).toContain(metric);
    }
  });

  it('each link to their own section of docs/runbook.md', () => {
    const anchors = new Set([...readFileSync(RUNBOOK_FILE, 'utf8').matchAll(/^#{2,3} (.+)$/gm)].map((m) => anchorOf(m[1]!)));
    for (const alert of alerts) {
      const url = alert.annotations?.runbook_url ?? '';
      expect(url, alert.alert).toBe(`docs/runbook.md#${anchorOf(alert.alert!)}`);
      expect(anchors.has(anchorOf(alert.alert!)), `docs/runbook.md has a "## ${alert.alert}" section`).toBe(true);
    }
  });

  it('Prometheus for compose loads them: promtool check config', () => {
    const { stdout } = runTool(promtool, ['check', 'config', join(PROM_DIR, 'prometheus.yml')]);
    expect(stdout).toContain(`SUCCESS: ${alerts.length} rules found`);
  });
});

describe('the Grafana dashboard', () => {
  const all = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]) as (Panel & {
    id: number;
    gridPos: { x: number; y: number; w: number; h: number };
    datasource?: { uid?: string };
  })[];

  it('loads as Grafana provisions it: a fixed uid, unique panel ids, panels inside the 24-column grid', () => {
    expect(dashboard.uid).toBe('wecom-relay');
    expect(new Set(all.map((p) => p.id)).size).toBe(all.length);
    for (const p of all) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
  });

  it('queries through its data-source variable, so it works with any Prometheus', () => {
    const uids = all.flatMap((p) => [p.datasource?.uid, ...(p.targets ?? []).map((t) => t.datasource?.uid)]).filter(Boolean);
    expect(new Set(uids)).toEqual(new Set(['${datasource}']));
  });

  it('never groups by a node label: per-node panels use the instance Prometheus adds', () => {
    const exprs = dashboardExprs.map((e) => e.expr).join('\n');
    expect(exprs).not.toMatch(/\bnode\b\s*[,)=]/);
    expect(exprs).toContain('by (instance)');
  });
});

describe('Kubernetes monitoring objects (deploy/k8s/monitoring)', () => {
  const objects = renderKustomization(repoPath('deploy/k8s/monitoring'));
  const base = renderKustomization(repoPath('deploy/k8s'));
  const find = <T>(kind: string): T => {
    const found = objects.filter((o) => o.kind === kind);
    if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`);
    return found[0] as T;
  };
  const service = find<IService>('Service');
  const serviceMonitor = find<K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } }>(
    'ServiceMonitor',
  );
  const rule = find<K8sObject & { spec: { groups: unknown } }>('PrometheusRule');
  const deployment = base.find((o) => o.kind === 'Deployment') as IDeployment;
  const podLabels = deployment.spec?.template.metadata?.labels ?? {};
  const relay = deployment.spec?.template.spec?.containers.find((c) => c.name === 'relay');

  it('wraps exactly the promtool-checked rule file in the PrometheusRule (node deploy/observability/render-prometheus-rule.mjs)', () => {
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.spec.groups).toEqual(ruleFile.groups);
  });

  it('scrapes every relay pod’s metrics port through a headless Service the ServiceMonitor selects', () => {
    expect(() => validateK8sObject(service as unknown as K8sObject)).not.toThrow();
    expect(service.spec?.clusterIP).toBe('None');
    expect(Object.entries(service.spec?.selector ?? {}).every(([k, v]) => podLabels[k] === v)).toBe(true);
    const port = service.spec?.ports?.find((p) => p.name === 'metrics');
    const containerPort = relay?.ports?.find((p) => p.name === port?.targetPort || p.containerPort === port?.targetPort);
    expect(containerPort?.containerPort).toBe(METRICS_PORT);

    expect(serviceMonitor.apiVersion).toBe('monitoring.coreos.com/v1');
    const selected = Object.entries(serviceMonitor.spec.selector.matchLabels).every(([k, v]) => service.metadata?.labels?.[k] === v);
    expect(selected).toBe(true);
    // Only the metrics Service: the ServiceMonitor must not also select the webhook Service.
    const httpService = base.find((o) => o.metadata?.name === 'wecom-relay-http') as IService;
    expect(Object.entries(serviceMonitor.spec.selector.matchLabels).every(([k, v]) => httpService.metadata?.labels?.[k] === v)).toBe(false);
    expect(serviceMonitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'metrics', path: '/metrics' })]);
  });
});

describe('Prometheus and Grafana in compose (profile "observability")', () => {
  const composeDir = repoPath('deploy/compose');
  const workspace = new ComposeWorkspace(composeDir);
  afterAll(() => workspace.dispose());
  const project = workspace.resolve('docker-compose.yml');
  const raw = parseYaml(readFileSync(join(composeDir, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { profiles?: string[] }>;
  };
  /** A bind mount's source as it lies in the repository (compose printed it inside its scratch copy). */
  const repoSource = (source: string): string => resolve(composeDir, relative(workspace.dir, source));

  it('are opt-in and listen on the host’s loopback only', () => {
    for (const name of ['prometheus', 'grafana']) {
      expect(raw.services[name]?.profiles, name).toEqual(['observability']);
      const ports = project.services[name]?.ports ?? [];
      expect(ports.length, name).toBeGreaterThan(0);
      for (const port of ports) expect(typeof port === 'string' ? port : (port as { host_ip?: string }).host_ip).toMatch(/127\.0\.0\.1/);
    }
    expect(composePublishedPorts(project.services.grafana!)).toEqual([3000]);
  });

  it('Prometheus reads this repository’s config and rules and scrapes every relay node on its metrics port', () => {
    const config = composeMounts(project.services.prometheus!).find((m) => m.target === '/etc/prometheus');
    expect(config && repoSource(config.source)).toBe(PROM_DIR);
    const prom = parseYaml(readFileSync(join(PROM_DIR, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    const targets = prom.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets)).sort();
    const relays = Object.keys(project.services).filter((n) => /^relay-\d+$/.test(n)).sort();
    expect(targets).toEqual(relays.map((n) => `${n}:${METRICS_PORT}`));
  });

  it('Grafana is provisioned with the Prometheus data source and the relay dashboard', () => {
    const mounts = composeMounts(project.services.grafana!);
    const provisioning = mounts.find((m) => m.target === '/etc/grafana/provisioning');
    const dashboards = mounts.find((m) => m.target === '/var/lib/grafana/dashboards');
    expect(provisioning && existsSync(join(repoSource(provisioning.source), 'datasources'))).toBe(true);
    expect(dashboards && readdirSync(repoSource(dashboards.source))).toContain('wecom-relay.json');
    const datasources = parseYaml(
      readFileSync(join(repoSource(provisioning!.source), 'datasources', 'prometheus.yml'), 'utf8'),
    ) as { datasources: { type: string; url: string }[] };
    expect(datasources.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    const provider = parseYaml(
      readFileSync(join(repoSource(provisioning!.source), 'dashboards', 'wecom-relay.yml'), 'utf8'),
    ) as { providers: { options: { path: string } }[] };
    expect(provider.providers[0]?.options.path).toBe('/var/lib/grafana/dashboards');
  });
});

describe('a live node’s /metrics', () => {
  let redis: RedisHandle;
  let stack: RelayStack;
  let text = '';

  beforeAll(async () => {
    redis = await startRedis();
    stack = await startRelayStack({ relayEnv: { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `obs${Date.now()}:` } });
    // Traffic enough for every labelled series to appear: a binding, an inbound message, a reply, a frame error
    // and a refused socket.
    const gw = await stack.gateway();
    const user = newUserId();
    await bindByScan(stack, gw, user);
    const sent = await stack.fake.control.customerMessage({ external_userid: user, msgtype: 'text', content: 'observe me' });
    await gw.waitFor((f) => f.type === 'inbound' && f.id === sent.msgid);
    await gw.reply(user, 'observed');
    gw.sendRaw('{not json');
    await gw.waitFor((f) => f.type === 'error' && f.code === 'FRAME_MALFORMED');
    await stack.gateway({ authToken: 'f'.repeat(64), connect: false }).then((c) => c.connect().catch(() => undefined));
    text = await (await fetch(`${stack.relay.httpUrl}/metrics`)).text();
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await redis?.stop();
  });

  it('passes promtool check metrics with no warning', () => {
    const result = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
    expect({ status: result.status, output: `${result.stdout}${result.stderr}`.trim() }).toEqual({ status: 0, output: '' });
  });

  it('exports every metric the dashboard queries', () => {
    const exported = exposedMetricNames(text);
    const missing = dashboardExprs.flatMap(({ panel, expr }) =>
      promqlMetricNames(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${panel}: ${name}`),
    );
    expect(dashboardExprs.length).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });

  it('exports every metric the alert rules read', () => {
    const exported = exposedMetricNames(text);
    const missing = alerts.flatMap((a) => promqlMetricNames(a.expr).filter((name) => !exported.has(name)).map((n) => `${a.alert}: ${n}`));
    expect(missing).toEqual([]);
  });

  it('times Redis commands and labels no series with the node', () => {
    expect(text).toMatch(/^relay_redis_command_duration_seconds_count\{command="[a-z]+"\} [1-9]/m);
    expect(text).not.toMatch(/[{,]node="/);
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
  });
});
