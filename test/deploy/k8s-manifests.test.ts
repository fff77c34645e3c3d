import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IContainer as Container } from 'kubernetes-models/v1/Container';
import type { IProbe as Probe } from 'kubernetes-models/v1/Probe';
import { repoPath, testCorp } from '@wecom-relay/testkit';
import { renderKustomization, renderOverlay } from './support/kustomize-render.js';
import { describeObject, isK8sObject, validateK8sObject, type K8sObject } from './support/k8s-schema.js';
import { parseYamlDocuments } from './support/yaml-documents.js';
import {
  SECRET_ENV_NAMES,
  effectiveDrainSpreadMs,
  relayEnvProblems,
  requiredRelayEnvNames,
  shutdownBudgetSeconds,
  unknownRelayEnvNames,
} from './support/relay-env.js';

const K8S_DIR = repoPath('deploy/k8s');
const SECRET_TEMPLATE = repoPath('deploy/k8s/secret.example.yaml');
const REDIS_SECRET_TEMPLATE = repoPath('deploy/k8s/redis/secret.example.yaml');

// Rendered once: every check below reads what `kubectl apply -k deploy/k8s` would send to the cluster.
const objects = renderKustomization(K8S_DIR);

function only<T>(kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? `/${name}` : ''}, rendered ${found.length}`);
  return found[0] as T;
}

const deployment = only<IDeployment>('Deployment');
const podSpec = deployment.spec?.template.spec;
const relay: Container | undefined = podSpec?.containers.find((c) => c.name === 'relay');
const configMap = only<IConfigMap>('ConfigMap');
const config = configMap.data ?? {};

function secretTemplate(file = SECRET_TEMPLATE): ISecret {
  const docs = parseYamlDocuments(readFileSync(file, 'utf8'), file);
  const [secret] = docs;
  if (docs.length !== 1 || !isK8sObject(secret) || secret.kind !== 'Secret') throw new Error(`${file} must hold one Secret`);
  return secret as ISecret;
}

/** The container port number a probe or Service names, by number or by port name. */
function containerPort(container: Container | undefined, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container?.ports?.find((p) => p.name === port)?.containerPort;
}

function httpProbe(probe: Probe | undefined): { path: string | undefined; port: number | undefined } {
  return { path: probe?.httpGet?.path, port: containerPort(relay, probe?.httpGet?.port) };
}

function imageTag(image: string): string | undefined {
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  return lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : undefined;
}

const portSetting = Number(config.PORT ?? 8080);
const wsPortSetting = Number(config.WS_PORT ?? 8081);

describe('deploy/k8s renders to valid Kubernetes objects', () => {
  it('renders the relay, its Services, its budget, its config and a Redis', () => {
    const kinds = objects.map(describeObject).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/wecom-relay',
        'Service/wecom-relay-http',
        'Service/wecom-relay-ws',
        'Service/wecom-relay-redis',
        'StatefulSet/wecom-relay-redis',
        'PodDisruptionBudget/wecom-relay',
        'ServiceAccount/wecom-relay',
        'NetworkPolicy/wecom-relay-redis',
        'NetworkPolicy/wecom-relay',
        'HorizontalPodAutoscaler/wecom-relay',
        'Ingress/wecom-relay',
        'PodDisruptionBudget/wecom-relay-redis',
      ]),
    );
    expect(configMap.metadata?.name).toMatch(/^wecom-relay-config-/);
  });

  it('every rendered object matches the Kubernetes schema of its kind', () => {
    const problems: string[] = [];
    for (const obj of objects) {
      try {
        validateK8sObject(obj);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the schema check catches a malformed object (so the check above can fail)', () => {
    const broken = structuredClone(deployment) as unknown as K8sObject & { spec: { replicas: unknown } };
    broken.spec.replicas = 'three';
    expect(() => validateK8sObject(broken)).toThrow(/replicas/);
  });

  it('the Secret templates (relay and Redis) match the Secret schema', () => {
    expect(() => validateK8sObject(secretTemplate() as unknown as K8sObject)).not.toThrow();
    expect(() => validateK8sObject(secretTemplate(REDIS_SECRET_TEMPLATE) as unknown as K8sObject)).not.toThrow();
  });
});

describe('relay Deployment: what an operator relies on', () => {
  it('leaves the replica count to the autoscaler (at least three) and rolls without losing capacity', () => {
    // A fixed count here would scale a busy cluster back down on every `kubectl apply`.
    expect(deployment.spec?.replicas).toBeUndefined();
    expect(only<IHorizontalPodAutoscaler>('HorizontalPodAutoscaler').spec?.minReplicas).toBeGreaterThanOrEqual(3);
    expect(deployment.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
  });

  it('gives a node more time to drain than its drain window plus close handshakes and a margin', () => {
    const spreadMs = effectiveDrainSpreadMs(config.DRAIN_SPREAD_MS);
    const grace = podSpec?.terminationGracePeriodSeconds ?? 30;
    expect(grace).toBeGreaterThan(shutdownBudgetSeconds(spreadMs));
  });

  it('probes readiness on /readyz and liveness and startup on /healthz, on the HTTP port the node listens on', () => {
    expect(httpProbe(relay?.readinessProbe)).toEqual({ path: '/readyz', port: portSetting });
    expect(httpProbe(relay?.livenessProbe)).toEqual({ path: '/healthz', port: portSetting });
    expect(httpProbe(relay?.startupProbe)).toEqual({ path: '/healthz', port: portSetting });
  });

  it('exposes the HTTP and WebSocket ports the node is configured with', () => {
    expect(containerPort(relay, 'http')).toBe(portSetting);
    expect(containerPort(relay, 'ws')).toBe(wsPortSetting);
  });

  it('names each node after its pod, so every process has its own NODE_ID', () => {
    const nodeId = relay?.env?.find((e) => e.name === 'NODE_ID');
    expect(nodeId?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    expect(nodeId?.value).toBeUndefined();
  });

  it('reads its settings from the rendered ConfigMap and its credentials from the templated Secret', () => {
    const sources = relay?.envFrom ?? [];
    expect(sources.map((s) => s.configMapRef?.name).filter(Boolean)).toEqual([configMap.metadata?.name]);
    expect(sources.map((s) => s.secretRef?.name).filter(Boolean)).toEqual([secretTemplate().metadata?.name]);
  });

  it('runs as a non-root user on a read-only root filesystem, with a writable /tmp', () => {
    expect(podSpec?.securityContext?.runAsNonRoot).toBe(true);
    expect(podSpec?.securityContext?.runAsUser).not.toBe(0);
    expect(relay?.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(relay?.securityContext?.allowPrivilegeEscalation).toBe(false);
    const tmp = relay?.volumeMounts?.find((m) => m.mountPath === '/tmp');
    const volume = podSpec?.volumes?.find((v) => v.name === tmp?.name);
    expect(volume?.emptyDir).toBeDefined();
  });

  it('spreads its pods across zones, then across machines', () => {
    const keys = (podSpec?.topologySpreadConstraints ?? []).map((c) => ({
      key: c.topologyKey,
      selects: Object.entries(c.labelSelector?.matchLabels ?? {}).every(([k, v]) => deployment.spec?.template.metadata?.labels?.[k] === v),
    }));
    expect(keys).toEqual([
      { key: 'topology.kubernetes.io/zone', selects: true },
      { key: 'kubernetes.io/hostname', selects: true },
    ]);
  });

  it('sets resource requests and a memory limit', () => {
    expect(relay?.resources?.requests?.cpu).toBeDefined();
    expect(relay?.resources?.requests?.memory).toBeDefined();
    expect(relay?.resources?.limits?.memory).toBeDefined();
  });

  it('asks Prometheus to scrape /metrics on every pod', () => {
    const annotations = deployment.spec?.template.metadata?.annotations ?? {};
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(Number(annotations['prometheus.io/port'])).toBe(portSetting);
  });
});

describe('configuration and secrets', () => {
  it('names only variables the relay reads, in env, the ConfigMap and the Secret template', () => {
    const names = [
      ...(relay?.env ?? []).map((e) => e.name),
      ...Object.keys(config),
      ...Object.keys(secretTemplate().stringData ?? {}),
    ];
    expect(unknownRelayEnvNames(names)).toEqual([]);
  });

  it('keeps credentials out of the ConfigMap', () => {
    expect(Object.keys(config).filter((k) => SECRET_ENV_NAMES.includes(k))).toEqual([]);
  });

  it('provides every required variable through the ConfigMap or the Secret', () => {
    const provided = new Set([...Object.keys(config), ...Object.keys(secretTemplate().stringData ?? {})]);
    expect(requiredRelayEnvNames().filter((name) => !provided.has(name))).toEqual([]);
  });

  it('ships no secret values: the Secret template is empty but for the bundled Redis address, and is not rendered', () => {
    const { stringData = {}, data } = secretTemplate();
    expect(data).toBeUndefined();
    const filled = Object.entries(stringData).filter(([key, value]) => key !== 'REDIS_URL' && value !== '');
    expect(filled).toEqual([]);
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
  });

  it('points REDIS_URL at the rendered Redis Service and its port', () => {
    const url = new URL(secretTemplate().stringData?.REDIS_URL ?? '');
    const service = only<IService>('Service', url.hostname);
    expect(service.spec?.ports?.map((p) => p.port)).toContain(Number(url.port || 6379));
  });
});

describe('images', () => {
  it('pins every image to a tag other than latest', () => {
    const images = objects.flatMap((o) => {
      const spec = (o as IDeployment | IStatefulSet).spec?.template?.spec;
      return [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])].map((c) => c.image ?? '');
    });
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) {
      const tag = imageTag(image);
      expect({ image, tag }).toEqual({ image, tag: expect.stringMatching(/^(?!latest$).+/) });
    }
  });
});

describe('Services and disruption budget', () => {
  const podLabels = deployment.spec?.template.metadata?.labels ?? {};
  const selects = (selector: Record<string, string> | undefined): boolean =>
    Object.keys(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([k, v]) => podLabels[k] === v);

  it('routes the HTTP Service to the webhook port and the WebSocket Service to the gateway port', () => {
    const http = only<IService>('Service', 'wecom-relay-http');
    const ws = only<IService>('Service', 'wecom-relay-ws');
    expect(selects(http.spec?.selector)).toBe(true);
    expect(selects(ws.spec?.selector)).toBe(true);
    expect(http.spec?.ports?.map((p) => containerPort(relay, p.targetPort))).toEqual([portSetting]);
    expect(ws.spec?.ports?.map((p) => containerPort(relay, p.targetPort))).toEqual([wsPortSetting]);
  });

  it('keeps gateway addresses visible to the relay when no trusted proxy is configured', () => {
    const ws = only<IService>('Service', 'wecom-relay-ws');
    if (!config.TRUSTED_PROXIES) expect(ws.spec?.externalTrafficPolicy).toBe('Local');
  });

  it('lets at most one relay pod be evicted at a time', () => {
    const pdb = only<IPodDisruptionBudget>('PodDisruptionBudget', 'wecom-relay');
    expect(selects(pdb.spec?.selector?.matchLabels)).toBe(true);
    expect(pdb.spec?.maxUnavailable).toBe(1);
  });
});

describe('Redis StatefulSet', () => {
  const redis = only<IStatefulSet>('StatefulSet', 'wecom-relay-redis');
  const container = redis.spec?.template.spec?.containers[0];
  const argv = [...(container?.command ?? []), ...(container?.args ?? [])];

  it('persists with the append-only file on a PersistentVolumeClaim mounted where Redis writes', () => {
    expect(argv.join(' ')).toMatch(/--appendonly yes/);
    const dir = argv[argv.indexOf('--dir') + 1] ?? '/data';
    const claim = redis.spec?.volumeClaimTemplates?.[0]?.metadata?.name;
    expect(claim).toBeDefined();
    expect(container?.volumeMounts?.find((m) => m.name === claim)?.mountPath).toBe(dir);
  });

  it('is reachable through its Service on 6379 and runs as non-root', () => {
    const service = only<IService>('Service', 'wecom-relay-redis');
    const labels = redis.spec?.template.metadata?.labels ?? {};
    expect(Object.entries(service.spec?.selector ?? {}).every(([k, v]) => labels[k] === v)).toBe(true);
    expect(service.spec?.ports?.[0]?.port).toBe(6379);
    expect(redis.spec?.template.spec?.securityContext?.runAsNonRoot).toBe(true);
  });
});

describe('an operator overlay, as deploy/README.md shows it', () => {
  const corp = testCorp();
  const overlay = renderOverlay(K8S_DIR, {
    namespace: 'wecom',
    images: [{ name: 'wecom-relay', newName: 'registry.example.com/wecom-relay', newTag: '0.1.1' }],
    configMapGenerator: [
      {
        name: 'wecom-relay-config',
        behavior: 'merge',
        literals: [`WECOM_CORPID=${corp.corpId}`, `WECOM_OPEN_KFID=${corp.openKfid}`],
      },
    ],
  });
  const find = <T>(kind: string): T => {
    const found = overlay.find((o) => o.kind === kind);
    if (!found) throw new Error(`the overlay rendered no ${kind}`);
    return found as T;
  };

  it('moves the relay to the operator’s image and namespace', () => {
    const relayContainer = find<IDeployment>('Deployment').spec?.template.spec?.containers.find((c) => c.name === 'relay');
    expect(relayContainer?.image).toBe('registry.example.com/wecom-relay:0.1.1');
    expect(overlay.every((o) => o.metadata?.namespace === 'wecom')).toBe(true);
  });

  it('yields, with the Secret filled in, an environment a node starts with', () => {
    const overlayConfig = find<IConfigMap>('ConfigMap');
    const relayContainer = find<IDeployment>('Deployment').spec?.template.spec?.containers.find((c) => c.name === 'relay');
    expect(relayContainer?.envFrom?.[0]?.configMapRef?.name).toBe(overlayConfig.metadata?.name);
    const filledSecret = {
      ...secretTemplate().stringData,
      WECOM_APP_SECRET: corp.secret,
      WECOM_TOKEN: corp.token,
      WECOM_ENCODING_AES_KEY: corp.encodingAesKey,
      RELAY_AUTH_SECRET: corp.relaySecret,
    };
    // What the kubelet would hand the container: ConfigMap, then Secret, then env (NODE_ID = a real pod name).
    const podEnv = { ...overlayConfig.data, ...filledSecret, NODE_ID: 'wecom-relay-7d9f8c6b5d-x2x9q' };
    expect(relayEnvProblems(podEnv)).toEqual([]);
    // And the base alone, with the Secret still empty, is refused rather than run half-configured.
    expect(relayEnvProblems({ ...config, ...secretTemplate().stringData }).length).toBeGreaterThan(0);
  });
});

describe('autoscaling, network policy and ingress', () => {
  const hpa = only<IHorizontalPodAutoscaler>('HorizontalPodAutoscaler');
  const policy = only<INetworkPolicy>('NetworkPolicy', 'wecom-relay');
  const ingress = only<IIngress>('Ingress');

  it('scales the relay Deployment on CPU and on connected gateways per pod (prometheus-adapter metric)', () => {
    expect(hpa.spec?.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata?.name });
    expect(hpa.spec?.maxReplicas).toBeGreaterThan(hpa.spec?.minReplicas ?? 1);
    const cpu = hpa.spec?.metrics?.find((m) => m.type === 'Resource');
    expect(cpu?.resource?.name).toBe('cpu');
    const gateways = hpa.spec?.metrics?.find((m) => m.type === 'Pods');
    expect(gateways?.pods?.metric.name).toBe('relay_gateways_connected');
    expect(gateways?.pods?.target.type).toBe('AverageValue');
    // Scaling down closes sockets: one pod at a time.
    expect(hpa.spec?.behavior?.scaleDown?.policies).toEqual([expect.objectContaining({ type: 'Pods', value: 1 })]);
  });

  it('lets gateways and callbacks in on their ports and Prometheus on the metrics port only', () => {
    const podLabels = deployment.spec?.template.metadata?.labels ?? {};
    expect(Object.entries(policy.spec?.podSelector.matchLabels ?? {}).every(([k, v]) => podLabels[k] === v)).toBe(true);
    expect(policy.spec?.policyTypes).toEqual(['Ingress', 'Egress']);
    const rules = policy.spec?.ingress ?? [];
    const open = rules.filter((r) => !r.from).flatMap((r) => (r.ports ?? []).map((p) => containerPort(relay, p.port)));
    expect(open.sort()).toEqual([portSetting, wsPortSetting].sort());
    const restricted = rules.filter((r) => r.from).flatMap((r) => (r.ports ?? []).map((p) => containerPort(relay, p.port)));
    expect(restricted).toEqual([9464]);
  });

  it('lets the relay reach DNS, the bundled Redis and HTTPS (WeCom), and nothing else', () => {
    const egress = policy.spec?.egress ?? [];
    const ports = egress.flatMap((r) => (r.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`)).sort();
    expect(ports).toEqual(['TCP/443', 'TCP/53', 'TCP/6379', 'UDP/53']);
    const toRedis = egress.find((r) => r.ports?.some((p) => p.port === 6379));
    const redisLabels = only<IStatefulSet>('StatefulSet', 'wecom-relay-redis').spec?.template.metadata?.labels ?? {};
    const selector = toRedis?.to?.[0]?.podSelector?.matchLabels ?? {};
    expect(Object.keys(selector).length).toBeGreaterThan(0);
    expect(Object.entries(selector).every(([k, v]) => redisLabels[k] === v)).toBe(true);
  });

  it('routes exactly /webhook, over TLS, to the HTTP Service', () => {
    const rules = ingress.spec?.rules ?? [];
    const paths = rules.flatMap((r) => r.http?.paths ?? []);
    expect(paths.map((p) => ({ path: p.path, type: p.pathType, service: p.backend.service?.name }))).toEqual([
      { path: '/webhook', type: 'Exact', service: 'wecom-relay-http' },
    ]);
    const tlsHosts = (ingress.spec?.tls ?? []).flatMap((t) => t.hosts ?? []);
    expect(rules.every((r) => r.host && tlsHosts.includes(r.host))).toBe(true);
    expect(ingress.spec?.tls?.every((t) => t.secretName)).toBe(true);
    const http = only<IService>('Service', 'wecom-relay-http');
    const port = paths[0]?.backend.service?.port;
    expect(http.spec?.ports?.some((p) => p.name === port?.name || p.port === port?.number)).toBe(true);
  });
});

describe('Redis: bounded, protected and kept', () => {
  const redis = only<IStatefulSet>('StatefulSet', 'wecom-relay-redis');
  const container = redis.spec?.template.spec?.containers[0];
  const argv = [...(container?.command ?? []), ...(container?.args ?? [])];
  const flag = (name: string): string | undefined => argv[argv.indexOf(name) + 1];
  const envRef = (name: string) => container?.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef;

  it('caps its memory below the container limit and refuses writes when full instead of evicting', () => {
    expect(flag('--maxmemory-policy')).toBe('noeviction');
    const maxBytes = Number(/^(\d+)mb$/i.exec(flag('--maxmemory') ?? '')?.[1] ?? Number.NaN) * 1024 * 1024;
    const limit = /^(\d+)Gi$/.exec(String(container?.resources?.limits?.memory ?? ''))?.[1];
    expect(maxBytes).toBeGreaterThan(0);
    expect(maxBytes).toBeLessThan(Number(limit) * 1024 ** 3);
  });

  it('requires a password from its own Secret, which its probes use too', () => {
    expect(flag('--requirepass')).toBe('$(REDIS_PASSWORD)');
    const secret = secretTemplate(REDIS_SECRET_TEMPLATE);
    for (const name of ['REDIS_PASSWORD', 'REDISCLI_AUTH']) {
      expect(envRef(name), name).toEqual({ name: secret.metadata?.name, key: 'password' });
    }
    expect(Object.keys(secret.stringData ?? {})).toEqual(['password']);
    expect(secret.stringData?.password).toBe('');
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    // The relay's REDIS_URL template carries a password for it.
    expect(new URL(secretTemplate().stringData?.REDIS_URL ?? '').password).not.toBe('');
  });

  it('is not evicted by voluntary disruptions', () => {
    const pdb = only<IPodDisruptionBudget>('PodDisruptionBudget', 'wecom-relay-redis');
    const labels = redis.spec?.template.metadata?.labels ?? {};
    expect(Object.entries(pdb.spec?.selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v)).toBe(true);
    expect(pdb.spec?.minAvailable).toBe(redis.spec?.replicas ?? 1);
  });
});
