import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { aDrill, type DrillOperator, startDrillOperator } from '../drills/support.js';
import { type Kubectl, kubectlFor } from '../runtime/support.js';
import { buildPlugin, runPlugin } from './support.js';

/**
 * drill run --wait against the real DisasterRecoveryDrill controller on the shared apiserver, Redis and
 * Alertmanager: an alert-delivery step whose receiver never confirms (no drill webhook here) fails after
 * its timeout, so the run ends Failed: the plugin follows it step by step and exits 7.
 */
describe('kubectl novapos drill with the DisasterRecoveryDrill controller', () => {
  const env = inject('env');
  const ns = `cli-drill-${randomBytes(3).toString('hex')}`;
  let kubectl: Kubectl;
  let operator: DrillOperator;
  let bundle: string;
  const plugin = (args: readonly string[]) =>
    runPlugin(bundle, [...args, '-n', ns], { kubeconfig: env.kube!.kubeconfig, timeoutMs: 120_000 });

  beforeAll(async () => {
    const kube = env.kube!;
    kubectl = kubectlFor(kube.kubectlPath, kube.kubeconfig);
    await kubectl(['create', 'namespace', ns]);
    [operator, bundle] = await Promise.all([
      startDrillOperator({
        kubeconfig: kube.kubeconfig,
        namespace: ns,
        redisUrl: env.redisUrl!,
        // Only the alert-delivery step runs: the auth-service and gateway are never called.
        authServiceUrl: 'http://127.0.0.1:9',
        gatewayUrl: 'http://127.0.0.1:9',
        alertmanagerUrl: env.alertmanagerUrl!,
        rateLimitController: false,
      }),
      buildPlugin(),
    ]);
    await kubectl(
      ['apply', '-f', '-'],
      JSON.stringify(
        aDrill(ns, 'quarterly', { steps: { alertDelivery: { receiver: 'drill', timeout: '5s' } } }),
      ),
    );
  }, 120_000);

  afterAll(async () => {
    await operator?.stop();
  });

  it('drill run --wait follows the run step by step and exits 7 when it failed', async () => {
    const r = await plugin(['drill', 'run', 'drdrill/quarterly', '--wait', '--timeout', '90s']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stderr).toMatch(/^drdrill\/quarterly: run requested \(run-now=kubectl-novapos-/);
    expect(r.stderr).toMatch(/drdrill\/quarterly: run \S+ Running: alertDelivery Running/);
    expect(r.stderr).toMatch(/error: drill run \S+ failed\n$/);
    expect(r.stdout).toMatch(/Run \S+ \(runNow\) Failed/);
    expect(r.stdout).toMatch(/alertDelivery\s+Failed/);
  });

  it('drill report and status show that run', async () => {
    const report = await plugin(['drill', 'report', 'drdrill/quarterly', '-o', 'json']);
    const run = JSON.parse(report.stdout);
    expect(run).toMatchObject({ trigger: 'runNow', result: 'Failed' });
    const status = await plugin(['status', 'drdrill/quarterly']);
    expect(status.stdout).toContain(`Run ${run.id} (runNow) Failed`);
  });
});
