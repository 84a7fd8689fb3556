import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PROMETHEUS_RULE_FILE, repoRoot } from '../../scripts/render-monitoring.js';
import { prometheusOperatorCrdDir } from '../harness/prometheus-operator-crds.js';

const run = promisify(execFile);

/**
 * Server-side dry-run of the rendered PrometheusRule against the real kube-apiserver with the
 * prometheus-operator CRDs (from prometheusOperatorCrdDir, which the shared environment installs): the
 * apiserver validates it against the CRD's OpenAPI schema and stores nothing.
 */
describe('the PrometheusRule resource', () => {
  const { kube } = inject('env');
  const namespace = `alerts-dryrun-${randomBytes(3).toString('hex')}`;
  const kubectl = async (args: string[], input?: string) => {
    const child = run(kube!.kubectlPath, [`--kubeconfig=${kube!.kubeconfig}`, ...args], { timeout: 60_000 });
    if (input !== undefined) {
      child.child.stdin!.end(input);
    }
    return (await child).stdout;
  };

  beforeAll(async () => {
    expect(kube, 'the shared environment has a kube-apiserver').toBeDefined();
    expect(existsSync(path.join(prometheusOperatorCrdDir)), prometheusOperatorCrdDir).toBe(true);
    await kubectl(['get', 'crd', 'prometheusrules.monitoring.coreos.com']);
    await kubectl(['create', 'namespace', namespace]);
  });

  afterAll(async () => {
    await kubectl(['delete', 'namespace', namespace, '--wait=false']).catch(() => {});
  });

  function committedResource(): {
    metadata: { namespace: string };
    spec: { groups: { rules: Record<string, unknown>[] }[] };
  } {
    const resource = parse(readFileSync(path.join(repoRoot, PROMETHEUS_RULE_FILE), 'utf8'));
    resource.metadata.namespace = namespace;
    return resource;
  }

  it('is accepted by the apiserver (server-side dry-run against the prometheus-operator CRD schema)', async () => {
    const out = await kubectl(
      ['apply', '--dry-run=server', '-o', 'yaml', '-f', '-'],
      stringify(committedResource()),
    );
    const echoed = parse(out) as { kind: string; spec: { groups: unknown[] } };
    expect(echoed.kind).toBe('PrometheusRule');
    expect(echoed.spec.groups).toEqual(committedResource().spec.groups);
    await expect(kubectl(['get', 'prometheusrule', '-n', namespace, '-o', 'name'])).resolves.toBe('');
  });

  it('would be rejected if a rule were malformed (the dry-run validates)', async () => {
    const broken = committedResource();
    broken.spec.groups[0]!.rules[0]!.for = '5 minutes';
    await expect(kubectl(['apply', '--dry-run=server', '-f', '-'], stringify(broken))).rejects.toThrow(
      /spec.groups\[0\].rules\[0\].for/,
    );
  });
});
