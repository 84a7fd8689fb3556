import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const buildScript = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bins/build.sh');

function resolveDir(): string {
  const out = execFileSync('bash', [buildScript, 'prometheus-operator-crds'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }).toString();
  const line = out.split('\n').find((l) => l.startsWith('PROMETHEUS_OPERATOR_CRDS='));
  if (!line) throw new Error('test/bins/build.sh prometheus-operator-crds printed no directory');
  return line.slice('PROMETHEUS_OPERATOR_CRDS='.length).trim();
}

/**
 * The prometheus-operator CRDs (ServiceMonitor, PrometheusRule, AlertmanagerConfig, ...) from the pinned Go
 * module's zip, for `startEnv({ kube: { crdDirs: [prometheusOperatorCrdDir, ...] } })`.
 */
export const prometheusOperatorCrdDir: string = resolveDir();
