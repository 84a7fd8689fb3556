/**
 * Renders the monitoring as code into committed files: alert rule files (promtool), the PrometheusRule
 * resource, alertmanager.yml and the Grafana dashboards. Deterministic: unit tests re-render and fail on drift.
 *
 *   npm run generate:monitoring
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { alertmanagerYaml, productionAlertmanagerOptions } from '../alerts/alertmanager/config.js';
import { ruleAreas } from '../alerts/src/index.js';
import { prometheusRuleYaml, ruleFileYaml } from '../alerts/src/render.js';
import { dashboardJson, dashboards } from '../dashboards/src/index.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const PROMETHEUS_RULE_FILE = 'alerts/kubernetes/prometheusrule.yaml';
export const ALERTMANAGER_FILE = 'alerts/alertmanager/alertmanager.yml';

/** Repository-relative path → content of every rendered file. */
export function monitoringFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const area of ruleAreas) files.set(`alerts/${area.area}.rules.yaml`, ruleFileYaml(area));
  files.set(PROMETHEUS_RULE_FILE, prometheusRuleYaml(ruleAreas));
  files.set(ALERTMANAGER_FILE, alertmanagerYaml(productionAlertmanagerOptions));
  for (const [name, d] of Object.entries(dashboards()))
    files.set(`dashboards/${name}.json`, dashboardJson(d));
  return files;
}

function main(): void {
  for (const [rel, content] of monitoringFiles()) {
    const file = path.join(repoRoot, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    process.stdout.write(`wrote ${rel}\n`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
