import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';

/** What every Kubernetes object has, before it is known to be valid. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string };
}

type Validate = (data: unknown) => void;

/**
 * The schemas the deployment's objects are checked against, by apiVersion and kind. An object of any other
 * type is an error until its model is added here, so nothing goes unchecked by omission.
 */
const VALIDATORS: ReadonlyMap<string, Validate> = new Map<string, Validate>([
  ['v1/ConfigMap', (d) => new ConfigMap(d as IConfigMap).validate()],
  ['v1/Secret', (d) => new Secret(d as ISecret).validate()],
  ['v1/Service', (d) => new Service(d as IService).validate()],
  ['v1/ServiceAccount', (d) => new ServiceAccount(d as IServiceAccount).validate()],
  ['apps/v1/Deployment', (d) => new Deployment(d as IDeployment).validate()],
  ['apps/v1/StatefulSet', (d) => new StatefulSet(d as IStatefulSet).validate()],
  ['policy/v1/PodDisruptionBudget', (d) => new PodDisruptionBudget(d as IPodDisruptionBudget).validate()],
  ['networking.k8s.io/v1/NetworkPolicy', (d) => new NetworkPolicy(d as INetworkPolicy).validate()],
  ['networking.k8s.io/v1/Ingress', (d) => new Ingress(d as IIngress).validate()],
  ['autoscaling/v2/HorizontalPodAutoscaler', (d) => new HorizontalPodAutoscaler(d as IHorizontalPodAutoscaler).validate()],
]);

/** Raised when an object does not match its Kubernetes schema, or has a type no schema is registered for. */
export class K8sSchemaError extends Error {
  /** Stable code: INVALID_OBJECT or UNKNOWN_KIND. */
  readonly code: 'INVALID_OBJECT' | 'UNKNOWN_KIND';

  constructor(code: 'INVALID_OBJECT' | 'UNKNOWN_KIND', message: string) {
    super(message);
    this.name = 'K8sSchemaError';
    this.code = code;
  }
}

/** A readable label for an object in failure messages: Kind/name. */
export function describeObject(obj: K8sObject): string {
  return `${obj.kind}/${obj.metadata?.name ?? '(unnamed)'}`;
}

/** Narrows a parsed YAML document to something with apiVersion and kind. */
export function isK8sObject(value: unknown): value is K8sObject {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return typeof record.apiVersion === 'string' && typeof record.kind === 'string';
}

/** Checks one object against the Kubernetes OpenAPI schema of its apiVersion and kind (kubernetes-models). */
export function validateK8sObject(obj: K8sObject): void {
  const validate = VALIDATORS.get(`${obj.apiVersion}/${obj.kind}`);
  if (!validate) {
    throw new K8sSchemaError('UNKNOWN_KIND', `${describeObject(obj)}: no schema registered for ${obj.apiVersion} ${obj.kind} in k8s-schema.ts`);
  }
  try {
    validate(obj);
  } catch (err) {
    throw new K8sSchemaError('INVALID_OBJECT', `${describeObject(obj)} does not match the Kubernetes schema: ${(err as Error).message}`);
  }
}
