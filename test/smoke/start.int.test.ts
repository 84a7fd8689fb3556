import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Annotations } from '../../operator/src/api/meta.js';
import { kubectlAs, yaml } from '../api/kubectl.js';
import { seedAcmeCashier } from '../auth-service/helpers.js';
import { bridgeExists } from '../harness/node/host.js';
import { LEASE_WAIT_MS, nodeLease, nodeUnavailable } from '../harness/node-lease.js';
import { isListening } from '../harness/ports.js';
import type { NodeLease } from '../harness/shared-node.js';
import { waitUntil } from '../harness/wait.js';

// `npm start` without the bootstrap step (the test run has done it): scripts/start.ts brings the stack up,
// writes its env file and kubeconfig, prints no credentials, and leaves nothing behind on Ctrl-C. As root it
// runs the real Kubernetes node (the operator, auth-service and the gateway as pods from the images built
// here, `kubectl get pods -A` all Running, loopback ports forwarded to them); without root it says so in one
// line and runs processes. The README's commands run as written, and a login through loopback 8085 gives a
// token loopback 8083 accepts, in both.

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The stack's files go to <scratch>/tmp, and the README's commands run in <scratch>: `tmp/local-stack.env`
// as written, without touching a developer's own tmp/.
const scratch = mkdtempSync(path.join(os.tmpdir(), 'local-stack-test-'));
const outDir = path.join(scratch, 'tmp');
mkdirSync(outDir);
// NOVAPOS_START_NODE=0 runs npm start without the node as root too (as start.ts does): the loopback stack.
const nodeMode = nodeUnavailable() === undefined && process.env.NOVAPOS_START_NODE !== '0';
let child: ChildProcess | undefined;
let lease: NodeLease | undefined;

beforeAll(async () => {
  // npm start runs a node of its own: the run's shared node (if any suite started it) is stopped meanwhile.
  if (nodeMode) {
    const l = await nodeLease('own', import.meta.url);
    if (typeof l !== 'string') lease = l;
  }
}, LEASE_WAIT_MS);

afterAll(async () => {
  // After a failed check: Ctrl-C first, so the node is stopped and the machine put back; SIGKILL if it hangs.
  const c = child;
  if (c && c.exitCode === null && c.signalCode === null) {
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGINT');
    const timer = setTimeout(() => c.kill('SIGKILL'), 90_000);
    await exited;
    clearTimeout(timer);
  }
  await lease?.release();
  rmSync(scratch, { recursive: true, force: true });
}, 120_000);

/** The README's ```sh block that contains `marker`, as lines. */
function readmeBlock(marker: string): string[] {
  const readme = readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.includes(marker));
  if (!block) throw new Error(`README.md has no sh block with ${marker}`);
  return block.split('\n').filter((l) => l.trim() && !l.startsWith('#'));
}

const exec = promisify(execFile);

/**
 * Runs README lines as written in one bash, in the directory holding the stack's tmp/, with the kubectl npm
 * start printed first on PATH; npm runs in the repository. Resolves each line's output.
 */
async function runReadmeLines(lines: readonly string[], kubectlDir: string): Promise<string[]> {
  const script = [
    `npm() { (cd ${JSON.stringify(repoRoot)} && command npm "$@"); }`,
    // A marker on a line of its own before each command (curl's answers end without a newline).
    ...lines.flatMap((l, i) => [`printf '\\n@@@ ${i}\\n'`, l]),
  ].join('\n');
  const { stdout } = await exec('bash', ['-c', script], {
    cwd: scratch,
    env: { ...process.env, PATH: `${kubectlDir}:${process.env.PATH}` },
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const out: string[] = [];
  for (const part of stdout.split(/\n@@@ (\d+)\n/).slice(1)) {
    if (/^\d+$/.test(part)) continue;
    out.push(part.trim());
  }
  return out;
}

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
  it('runs the local stack until Ctrl-C, then stops all of it', async (ctx) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      cwd: repoRoot,
      env: { ...process.env, NOVAPOS_LOCAL_STACK_DIR: outDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let output = '';
    ctx.onTestFailed(() => console.log(`npm start's output (last 6000 characters):\n${output.slice(-6000)}`));
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
      // The node: its start, the images' build and the three rollouts (auth-service waits for its key set).
      { timeoutMs: nodeMode ? 600_000 : 240_000 },
    );
    expect(up, `start.ts exited with ${proc.exitCode} before the stack was up:\n${output}`).toBe('up');
    const upAfter = /\[start\] up in (\S+) s/.exec(output)?.[1];
    console.log(
      `[start] npm start up in ${upAfter} s (${nodeMode ? 'with the Kubernetes node' : 'processes only'})`,
    );
    if (!nodeMode) {
      // One line says why, then the loopback stack.
      expect(output.match(/no Kubernetes node: /g)).toHaveLength(1);
    }

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

    if (nodeMode) {
      // The printed table lists the pods, the operator and both services Running from the images built here,
      // and says they are pods.
      expect(output).toContain('Pods in the node novapos-node');
      for (const [ns, pod, image] of [
        ['novapos-system', 'novapos-operator', 'operator'],
        ['novapos', 'auth-service', 'auth-service'],
        ['novapos', 'integration-gateway', 'integration-gateway'],
        ['novapos', 'audit-service', 'audit-service'],
      ]) {
        expect(output).toMatch(
          new RegExp(
            `${ns}\\s+${pod}-\\S+\\s+1/1\\s+Running\\s+10\\.217\\.0\\.\\d+\\s+novapos\\.local/${image}:`,
          ),
        );
        expect(output).toMatch(
          new RegExp(`\\n\\s+${pod}\\s.*\\(a pod in the node, below; forwarded from loopback\\)`),
        );
      }
      expect(output).not.toContain('(a process');
      // kubectl get pods -A with the kubeconfig npm start wrote: every pod Running and ready.
      const pods = (await kubectl(['get', 'pods', '-A', '--no-headers'])).trim().split('\n');
      expect(pods.some((l) => /^novapos-system\s+novapos-operator-/.test(l))).toBe(true);
      expect(pods.some((l) => /^kube-system\s+coredns-/.test(l))).toBe(true);
      for (const line of pods) expect(line).toMatch(/^\S+\s+\S+\s+(\d+)\/\1\s+Running\s/);
    }
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
    expect(planned.status.plan.hash).toBeTruthy();
    // The README's first block as written: it lists the resources, reads the key set through loopback
    // (auth-service's, and the gateway's view of it) and approves the plan. Its keys exist by now.
    await waitUntil(
      'the operator-managed key set to be served',
      async () => {
        const jwks = (await (await fetch('http://127.0.0.1:8085/.well-known/jwks.json')).json()) as {
          keys: unknown[];
        };
        return jwks.keys.length > 0;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const kubectlDir = path.dirname(kubectlPath!);
    const blockA = readmeBlock('curl -s localhost:8085/.well-known/jwks.json');
    const outA = await runReadmeLines(blockA, kubectlDir);
    const at = (lines: readonly string[], out: readonly string[], needle: string) =>
      out[lines.findIndex((l) => l.includes(needle))] ?? '';
    expect(at(blockA, outA, 'get skr,trl,spromo,drdrill')).toMatch(/signingkeyrotation\S*\/auth|\bauth\b/);
    const jwks = JSON.parse(at(blockA, outA, 'localhost:8085/.well-known/jwks.json')) as {
      keys: { kid: string }[];
    };
    expect(jwks.keys.length).toBeGreaterThan(0);
    const gatewayKeys = JSON.parse(at(blockA, outA, 'localhost:8083/keys/status')) as { kids: string[] };
    expect(Array.isArray(gatewayKeys.kids)).toBe(true);
    expect(at(blockA, outA, 'annotate spromo auth-to-staging')).toContain('annotated');
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

    // The README's auth smoke test, as written (the first line is this suite's sibling test: not run here).
    const envLine = blockA[0]!;
    const blockB = readmeBlock('npm run auth:seed').filter((l) => !l.startsWith('npx vitest'));
    const seeded = await runReadmeLines(
      [envLine, blockB.find((l) => l.startsWith('npm run auth:seed'))!],
      kubectlDir,
    );
    const password = /Password \(shown once, not stored in clear\): (\S+)/.exec(seeded[1] ?? '')?.[1];
    expect(password, seeded.join('\n')).toBeTruthy();
    const rest = blockB.filter((l) => l.startsWith('curl')).map((l) => l.replace('<printed>', password!));
    const outB = await runReadmeLines([envLine, ...rest], kubectlDir);
    expect(outB[1]).toMatch(/"code"\s*:\s*"invalid_credentials"|invalid/i);
    expect(outB[2]).toMatch(/mfa/i);
    expect(outB[3]).toMatch(/^auth_login_attempts_total\{/m);

    // A login through loopback 8085 gives a token that loopback 8083 accepts (forged or missing: 401): in the
    // node, auth-service's and the gateway's pods through the forwarders, without a node their processes.
    const user = {
      email: 'cashier@acme.example',
      password: `Pw-${randomBytes(12).toString('base64url')}7#a`,
    };
    await seedAcmeCashier(vars.DATABASE_URL!, user);
    const login = await fetch('http://localhost:8085/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-tenant-id': 'acme' },
      body: JSON.stringify(user),
    });
    const tokens = (await login.json()) as { accessToken?: string };
    expect(login.status, JSON.stringify(tokens)).toBe(200);
    expect(typeof tokens.accessToken).toBe('string');
    const ping = async (token?: string) => {
      const r = await fetch('http://localhost:8083/api/tenant/ping', {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      await r.text();
      return r.status;
    };
    expect(await ping(tokens.accessToken)).toBe(200);
    expect(await ping(`${tokens.accessToken!.slice(0, -4)}AAAA`)).toBe(401);
    expect(await ping()).toBe(401);

    // The sign-in went to Kafka through auth-service's outbox, and the audit-service chained it (its pod in the
    // node, its process without): read back with the insert-only role tmp/local-stack.env names.
    const audit = new pg.Client({ connectionString: vars.AUDIT_DATABASE_URL });
    await audit.connect();
    try {
      await waitUntil(
        'the audit-service to chain the sign-in',
        async () =>
          ((
            await audit.query(
              "SELECT 1 FROM audit_logs WHERE producer = 'auth-service' AND event_type = 'login_succeeded' AND tenant_id = 'acme'",
            )
          ).rowCount ?? 0) > 0,
        { timeoutMs: 60_000, intervalMs: 1000 },
      );
    } finally {
      await audit.end();
    }

    if (nodeMode) {
      // Everything above went through the services' pods: each still Running and ready, never restarted.
      const pods = JSON.parse(await kubectl(['get', 'pods', '-n', 'novapos', '-o', 'json'])) as {
        items: {
          metadata: { name: string };
          status: { phase: string; containerStatuses?: { ready: boolean; restartCount: number }[] };
        }[];
      };
      for (const name of ['auth-service-', 'integration-gateway-', 'audit-service-']) {
        const mine = pods.items.filter((p) => p.metadata.name.startsWith(name));
        expect(mine.length, name).toBeGreaterThan(0);
        for (const p of mine) {
          expect(p.status.phase, p.metadata.name).toBe('Running');
          expect(
            p.status.containerStatuses?.every((c) => c.ready && c.restartCount === 0),
            p.metadata.name,
          ).toBe(true);
        }
      }
    }

    proc.kill('SIGINT');
    expect(await exited, output).toBe(130);
    // The node stopped leaving the machine as it was (its stop() checks that and no packet left the bridge).
    expect(output).not.toMatch(/\[start\] node: /);
    if (nodeMode) expect(bridgeExists('novapos0')).toBe(false);
    const ports = Object.values(vars)
      .map((v) => /^\w+:\/\/(?:[^@/]+@)?127\.0\.0\.1:(\d+)/.exec(v)?.[1])
      .filter((p): p is string => p !== undefined)
      .map(Number);
    expect(ports.length).toBeGreaterThanOrEqual(7);
    // The project's own ports: processes, or forwarders to the pods.
    ports.push(8080, 8082, 8083, 8085, 9083, 9085);
    await waitUntil('every local-stack port to refuse connections', async () => {
      for (const port of ports) if (await isListening(port)) throw new Error(`port ${port} still listening`);
      return true;
    });
    expect(existsSync(envFile)).toBe(false);
    expect(existsSync(vars.KUBECONFIG!)).toBe(false);
    expect(existsSync(runDir!)).toBe(false);
  }, 1_200_000);
});
