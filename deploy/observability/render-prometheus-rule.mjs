// Wraps deploy/observability/prometheus/relay-alerts.rules.yml in the PrometheusRule the Prometheus Operator reads,
// writing deploy/k8s/monitoring/prometheus-rule.yaml. Run after editing the rules:
//   node deploy/observability/render-prometheus-rule.mjs
// test/deploy/observability.test.ts fails while the two differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../test/package.json', import.meta.url));
const { parse, stringify } = require('yaml');

/** The PrometheusRule object for a parsed rule file. */
export function prometheusRuleFor(ruleFile) {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'wecom-relay',
      labels: { 'app.kubernetes.io/name': 'wecom-relay', 'app.kubernetes.io/component': 'relay' },
    },
    spec: { groups: ruleFile.groups },
  };
}

const HEADER = `# Generated from deploy/observability/prometheus/relay-alerts.rules.yml by
# \`node deploy/observability/render-prometheus-rule.mjs\`; edit the rule file, not this one.
# Runbook: docs/runbook.md. Your Prometheus' ruleSelector may need a label added here (e.g. release: ...).
`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const rules = parse(readFileSync(new URL('prometheus/relay-alerts.rules.yml', import.meta.url), 'utf8'));
  const out = new URL('../k8s/monitoring/prometheus-rule.yaml', import.meta.url);
  writeFileSync(out, HEADER + stringify(prometheusRuleFor(rules), { lineWidth: 0 }));
}
