import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { Annotations } from '../../operator/src/api/meta.js';
import { kubectlAs, yaml } from '../api/kubectl.js';
import { isListening } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';

// `npm start` without the bootstrap step (the test run has done it): scripts/start.ts brings the stack up,
// writes its env file and kubeconfig, prints no credentials, and leaves nothing behind on Ctrl-C.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const outDir = mkdtempSync(path.join(os.tmpdir(), 'local-stack-test-'));
let child: ChildProcess | undefined;

afterAll(() => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(outDir, { recursive: true, force: true });
});

/** A drill with only the alert-delivery step, run once now. */
const deliveryDrill = {
  apiVersion: 'security.novapos.io/v1alpha1',
  kind: 'DisasterRecoveryDrill',
  metadata: {
    name: 'local-alert-delivery',
    namespace: 'novapos',
    annotations: { [Annotations.runNow]: '1' },
  },
  spec: { schedule: '0 6 1 1 *', steps: { alertDelivery: { receiver: 'drill', timeout: '30s' } } },
};

function parseEnvFile(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('npm start', () => {
  it('runs the local stack until Ctrl-C, then stops all of it', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      cwd: repoRoot,
      env: { ...process.env, NOVAPOS_LOCAL_STACK_DIR: outDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let output = '';
    proc.stdout.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    proc.stderr.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const up = await waitUntil(
      'the local stack to be up',
      () => (proc.exitCode !== null ? 'exited' : output.includes('Ctrl-C to stop') && 'up'),
      { timeoutMs: 100_000 },
    );
    expect(up, `start.ts exited with ${proc.exitCode} before the stack was up:\n${output}`).toBe('up');

    const envFile = path.join(outDir, 'local-stack.env');
    const vars = parseEnvFile(readFileSync(envFile, 'utf8'));
    expect(Object.keys(vars)).toEqual(
      expect.arrayContaining(['VAULT_ADDR', 'VAULT_TOKEN', 'REDIS_URL', 'DATABASE_URL', 'KUBECONFIG']),
    );
    expect(vars.KUBECONFIG).toBe(path.join(outDir, 'local-stack.kubeconfig'));
    const kubeToken = /token: (\S+)/.exec(readFileSync(vars.KUBECONFIG!, 'utf8'))?.[1];
    expect(kubeToken).toBeTruthy();
    // The table says where things are, never what the credentials are.
    expect(output).not.toContain(vars.VAULT_TOKEN!);
    expect(output).not.toContain(kubeToken!);
    for (const name of [
      'redis',
      'postgres',
      'prometheus',
      'alertmanager',
      'kube-apiserver',
      'vault (openbao)',
    ]) {
      expect(output).toContain(name);
    }

    // What the table points at answers.
    const redis = new Redis(vars.REDIS_URL!, { maxRetriesPerRequest: 1 });
    expect(await redis.ping()).toBe('PONG');
    await redis.quit();
    const vaultHealth = await fetch(`${vars.VAULT_ADDR}/v1/sys/health`);
    expect(vaultHealth.status).toBe(200);
    expect((await fetch(`${vars.PROMETHEUS_URL}/-/ready`)).ok).toBe(true);
    const runDir = /run dir:\s+(\S+)/.exec(output)?.[1];
    expect(runDir && existsSync(runDir)).toBe(true);

    // The local Alertmanager routes as the project's configuration does: a drill's synthetic alert goes
    // to the drill receiver, which posts to the operator's drill endpoint; the drill passes.
    const kubectlPath = /kubectl:\s+(\S+) --kubeconfig/.exec(output)?.[1];
    expect(kubectlPath, output).toBeTruthy();
    const kubectl = kubectlAs(kubectlPath!, vars.KUBECONFIG!);
    await kubectl(['apply', '-f', '-'], yaml(deliveryDrill));
    const run = await waitUntil(
      'the local drill run to finish',
      async () => {
        const drill = JSON.parse(
          await kubectl([
            'get',
            'disasterrecoverydrill',
            deliveryDrill.metadata.name,
            '-n',
            'novapos',
            '-o',
            'json',
          ]),
        );
        const last = drill.status?.lastRuns?.[0];
        return last?.finishedAt ? last : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(run.result, JSON.stringify(run)).toBe('Succeeded');
    expect(run.steps[0]).toMatchObject({ name: 'alertDelivery', result: 'Passed' });

    // The example SecretPromotion plans against the local Vault and the staging one, waits for approval,
    // and once approved writes staging with staging's own overrides.
    const promotion = async () =>
      JSON.parse(await kubectl(['get', 'spromo', 'auth-to-staging', '-n', 'novapos', '-o', 'json']));
    const planned = await waitUntil(
      'the example promotion to await approval',
      async () => {
        const sp = await promotion();
        return sp.status?.phase === 'AwaitingApproval' && sp;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    await kubectl([
      'annotate',
      'spromo',
      'auth-to-staging',
      '-n',
      'novapos',
      `${Annotations.approvePlan}=${planned.status.plan.hash}`,
    ]);
    const promoted = await waitUntil(
      'the example promotion to be applied',
      async () => {
        const sp = await promotion();
        return sp.status?.phase === 'Promoted' && sp;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(promoted.status.approval.approvedBy).toBe('admin');
    const staged = await fetch(`${vars.VAULT_STAGING_ADDR}/v1/secret/data/novapos/auth`, {
      headers: { 'x-vault-token': vars.VAULT_STAGING_TOKEN! },
    });
    const data = ((await staged.json()) as { data: { data: Record<string, string> } }).data.data;
    expect(data).toEqual({
      KAFKA_BOOTSTRAP: 'kafka.staging.local:9092',
      REDIS_URL: 'redis://redis.staging.local:6379',
      SECURITY_MFA_ACTIVITY_TOPIC: 'security.mfa.activity',
    });

    proc.kill('SIGINT');
    expect(await exited, output).toBe(130);
    const ports = Object.values(vars)
      .map((v) => /^\w+:\/\/(?:[^@/]+@)?127\.0\.0\.1:(\d+)/.exec(v)?.[1])
      .filter((p): p is string => p !== undefined)
      .map(Number);
    expect(ports.length).toBeGreaterThanOrEqual(7);
    await waitUntil('every local-stack port to refuse connections', async () => {
      for (const port of ports) if (await isListening(port)) throw new Error(`port ${port} still listening`);
      return true;
    });
    expect(existsSync(envFile)).toBe(false);
    expect(existsSync(vars.KUBECONFIG!)).toBe(false);
    expect(existsSync(runDir!)).toBe(false);
  });
});
