import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectNoSecrets } from '../auth-service/helpers.js';
import { type DrillEnvironment, startDrillEnvironment } from '../drills/full-drill-environment.js';
import { aDrill, DRILL_PASSWORD } from '../drills/support.js';
import { buildPlugin, runPlugin } from './support.js';

/**
 * `kubectl novapos drill run --wait` to a passing report: the whole drill (key rotation, Redis outage,
 * alert delivery) against the real apiserver, OpenBao, Redis, Alertmanager, auth-service and gateway, with
 * the DisasterRecoveryDrill, SigningKeyRotation and TenantRateLimit controllers on one Manager (the setup
 * test/drills/full-drill.int.test.ts uses too: test/drills/full-drill-environment.ts); the plugin starts the run, prints a progress line as each step
 * moves, exits 0 and prints the report; `drill report` and `status` show the same run.
 */
describe('kubectl novapos drill run --wait: a passing drill', () => {
  const env = inject('env');
  let bundle: string;
  let drillEnv: DrillEnvironment;

  beforeAll(async () => {
    bundle = await buildPlugin();
    drillEnv = await startDrillEnvironment(env, 'cli-drill-pass', 'cli');
  }, 180_000);

  afterAll(async () => {
    await drillEnv?.stop();
  });

  it('drill run --wait follows every step to a passing report and exits 0', async () => {
    const { ns, kubectl, skr, synthetic, setup } = drillEnv;
    const before = await skr();
    const drill = aDrill(ns, 'quarterly', {
      syntheticTenant: synthetic(),
      steps: drillEnv.threeSteps(),
    });
    await kubectl(['apply', '-f', '-'], JSON.stringify(drill));
    const plugin = (args: readonly string[]) =>
      runPlugin(bundle, [...args, '-n', ns], { kubeconfig: env.kube!.kubeconfig, timeoutMs: 200_000 });
    const r = await plugin(['drill', 'run', 'drdrill/quarterly', '--wait', '--timeout', '180s']);
    // On a failure the report (stdout) says why each step failed.
    expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^drdrill\/quarterly: run requested \(run-now=kubectl-novapos-/);
    // A live line as each step moves: each one seen running, then passed, in order.
    for (const [i, step] of ['keyRotation', 'redisOutage', 'alertDelivery'].entries()) {
      const passedBefore = ['keyRotation', 'redisOutage', 'alertDelivery']
        .slice(0, i)
        .map((s) => `${s} Passed, `)
        .join('');
      expect(r.stderr).toMatch(new RegExp(`: run \\S+ Running: ${passedBefore}${step} Running \\d`));
    }
    expect(lines.at(-1)).toMatch(
      /^drdrill\/quarterly: run \S+ Succeeded: keyRotation Passed, redisOutage Passed, alertDelivery Passed$/,
    );
    // The report, step by step with figures.
    expect(r.stdout).toMatch(/Run \S+ \(runNow\) Succeeded/);
    expect(r.stdout).toMatch(/keyRotation\s+Passed\s+\S+\s+.*failedRequests=0/);
    expect(r.stdout).toMatch(/redisOutage\s+Passed/);
    expect(r.stdout).toMatch(/alertDelivery\s+Passed\s+\S+\s+.*deliverySeconds=/);

    const report = JSON.parse((await plugin(['drill', 'report', 'drdrill/quarterly', '-o', 'json'])).stdout);
    expect(report).toMatchObject({ trigger: 'runNow', result: 'Succeeded' });
    expect(report.steps.map((s: { result: string }) => s.result)).toEqual(['Passed', 'Passed', 'Passed']);
    const status = await plugin(['status', 'drdrill/quarterly']);
    expect(status.stdout).toContain(`Run ${report.id} (runNow) Succeeded`);
    expect(status.stdout).toMatch(/Last success: \d{4}-/);
    // The rotation really happened, and the resource's own lead time is back.
    const rotated = await skr();
    expect(rotated.status?.activeKid).not.toBe(before.status?.activeKid);
    expect(rotated.spec.leadTime).toBe('2m');
    expectNoSecrets(r.stdout + r.stderr + status.stdout, {
      password: DRILL_PASSWORD,
      totpSecret: setup.totpSecret,
    });
  }, 240_000);
});
