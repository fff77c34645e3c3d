import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';
import { requireBinary } from './require-binary.js';
import { runTool } from './run-tool.js';
import { parseYamlDocuments } from './yaml-documents.js';
import { isK8sObject, type K8sObject } from './k8s-schema.js';

/**
 * Renders a kustomization the way `kubectl apply -k` would (`kubectl kustomize DIR`) and returns its objects.
 * Fails when kubectl is missing, when kustomize rejects the directory, or when a document is not an object.
 */
export function renderKustomization(dir: string): K8sObject[] {
  const kubectl = requireBinary('kubectl', 'install kubectl (it bundles kustomize); CI machines of this kind have it');
  const { stdout } = runTool(kubectl, ['kustomize', dir]);
  return parseYamlDocuments(stdout, `kubectl kustomize ${dir}`).map((doc, index) => {
    if (!isK8sObject(doc)) throw new Error(`kubectl kustomize ${dir}: document ${index} has no apiVersion/kind`);
    return doc;
  });
}

/**
 * Renders an operator's overlay of `baseDir`: a scratch kustomization.yaml holding `fields` (images,
 * configMapGenerator, namespace, ...) with the base as its only resource, as an operator's own repository would.
 */
export function renderOverlay(baseDir: string, fields: Record<string, unknown>): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-overlay-'));
  try {
    // kustomize takes bases by relative path only.
    const kustomization = { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [relative(dir, baseDir)], ...fields };
    writeFileSync(join(dir, 'kustomization.yaml'), stringify(kustomization));
    return renderKustomization(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
