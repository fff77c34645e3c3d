import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { repoPath, testCorp } from '@wecom-relay/testkit';
import { renderKustomization } from './support/kustomize-render.js';
import { isK8sObject, validateK8sObject, type K8sObject } from './support/k8s-schema.js';
import { parseYamlDocuments } from './support/yaml-documents.js';
import { SECRET_ENV_NAMES, relayEnvProblems, unknownRelayEnvNames } from './support/relay-env.js';

// What `kubectl apply -k deploy/k8s-redis-cluster` sends: the base on a Redis Cluster instead of the bundled Redis.
const objects = renderKustomization(repoPath('deploy/k8s-redis-cluster'));
const SECRET_TEMPLATE = repoPath('deploy/k8s-redis-cluster/secret.example.yaml');
const BASE_SECRET_TEMPLATE = repoPath('deploy/k8s/secret.example.yaml');

function only<T>(kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, rendered ${found.length}`);
  return found[0] as T;
}

/** The labels of a rendered object (metadata beyond name and namespace is not in the K8sObject type). */
function labelsOf(o: K8sObject): Record<string, string> {
  return (o.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
}

function secretTemplate(file: string): ISecret {
  const docs = parseYamlDocuments(readFileSync(file, 'utf8'), file);
  if (docs.length !== 1 || !isK8sObject(docs[0]) || docs[0].kind !== 'Secret') throw new Error(`${file} must hold one Secret`);
  return docs[0] as ISecret;
}

const config = only<IConfigMap>('ConfigMap').data ?? {};
const secret = secretTemplate(SECRET_TEMPLATE);
const corp = testCorp();
const filledSecret = {
  ...secret.stringData,
  WECOM_APP_SECRET: corp.secret,
  WECOM_TOKEN: corp.token,
  WECOM_ENCODING_AES_KEY: corp.encodingAesKey,
  RELAY_AUTH_SECRET: corp.relaySecret,
  REDIS_PASSWORD: 'a-redis-cluster-password',
};
const operatorConfig = { ...config, WECOM_CORPID: corp.corpId, WECOM_OPEN_KFID: corp.openKfid };

describe('deploy/k8s-redis-cluster: the relay on a Redis Cluster', () => {
  it('renders objects that each match the Kubernetes schema of their kind, the Secret template too', () => {
    const problems: string[] = [];
    for (const obj of [...objects, secret as unknown as K8sObject]) {
      try {
        validateK8sObject(obj);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    expect(problems).toEqual([]);
  });

  it('leaves the bundled single Redis out entirely', () => {
    const redisObjects = objects.filter((o) => o.metadata?.name === 'wecom-relay-redis' || labelsOf(o)['app.kubernetes.io/component'] === 'redis');
    expect(redisObjects.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([]);
    expect(objects.some((o) => o.kind === 'Deployment')).toBe(true);
  });

  it('seeds the nodes with REDIS_CLUSTER_NODES in the ConfigMap the pods read, and names no other Redis', () => {
    const relay = only<IDeployment>('Deployment').spec?.template.spec?.containers.find((c) => c.name === 'relay');
    expect(relay?.envFrom?.[0]?.configMapRef?.name).toBe(only<IConfigMap>('ConfigMap').metadata?.name);
    expect(config.REDIS_CLUSTER_NODES).toMatch(/^[^,:\s]+:\d+(,[^,:\s]+:\d+)*$/);
    expect(config.REDIS_URL ?? '').toBe('');
    expect(config.REDIS_SENTINELS ?? '').toBe('');
  });

  it('takes the Redis password from its own Secret template, which carries no REDIS_URL and no values', () => {
    const keys = Object.keys(secret.stringData ?? {});
    expect(keys).toContain('REDIS_PASSWORD');
    expect(keys).not.toContain('REDIS_URL');
    expect(unknownRelayEnvNames(keys)).toEqual([]);
    expect(keys.every((k) => SECRET_ENV_NAMES.includes(k))).toBe(true);
    expect(Object.values(secret.stringData ?? {}).every((v) => v === '')).toBe(true);
  });

  it('yields, with that Secret filled in, an environment a node starts with; with the base’s Secret (REDIS_URL) it refuses', () => {
    const pod = { ...operatorConfig, ...filledSecret, NODE_ID: 'wecom-relay-7d9f8c6b5d-x2x9q' };
    expect(relayEnvProblems(pod)).toEqual([]);
    const withBaseSecret = { ...operatorConfig, ...secretTemplate(BASE_SECRET_TEMPLATE).stringData, ...filledSecret, REDIS_URL: 'redis://:x@wecom-relay-redis:6379' };
    expect(relayEnvProblems(withBaseSecret).join('\n')).toMatch(/only one of REDIS_URL, REDIS_SENTINELS and REDIS_CLUSTER_NODES/);
  });

  it('lets the relay reach the Redis Cluster’s port instead of the bundled Redis, besides DNS and HTTPS', () => {
    const policy = objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata?.name === 'wecom-relay') as INetworkPolicy;
    const egress = policy.spec?.egress ?? [];
    const ports = egress.flatMap((r) => (r.ports ?? []).map((p) => `${p.protocol ?? 'TCP'}/${p.port}`)).sort();
    expect(ports).toEqual(['TCP/443', 'TCP/53', 'TCP/6379', 'UDP/53']);
    const toRedis = egress.find((r) => r.ports?.some((p) => p.port === 6379));
    expect(toRedis?.to?.some((peer) => peer.podSelector?.matchLabels?.['app.kubernetes.io/component'] === 'redis')).toBe(false);
    expect(toRedis?.to?.length).toBeGreaterThan(0);
  });
});
