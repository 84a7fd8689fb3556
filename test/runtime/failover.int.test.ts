import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitUntil } from '../harness/wait.js';
import {
  installWidgetCrd,
  type Kubectl,
  kubectlFor,
  metricValue,
  repoRoot,
  widgets,
  widgetYaml,
} from './support.js';

// Two replicas of the real entry point (operator/src/main.ts) as child processes against the shared
// apiserver, electing a leader on a Lease in this suite's own namespace.
const env = inject('env');
const ns = `failover-${process.pid}`;
const lease = 'widget-operator';
let kubectl: Kubectl;

interface Replica {
  readonly id: string;
  readonly child: ChildProcess;
  readonly lines: string[];
  metricsUrl?: string;
  exit: Promise<number | null>;
}

const replicas: Replica[] = [];

function startReplica(id: string): Replica {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'test/runtime/widget-operator.ts')],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        KUBECONFIG: env.kube?.kubeconfig,
        OPERATOR_IDENTITY: id,
        OPERATOR_WATCH_NAMESPACES: ns,
        OPERATOR_LEASE_NAMESPACE: ns,
        OPERATOR_LEASE_NAME: lease,
        OPERATOR_METRICS_PORT: '0',
        OPERATOR_PROBES_PORT: '0',
        OPERATOR_BIND_ADDRESS: '127.0.0.1',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const r: Replica = {
    id,
    child,
    lines: [],
    exit: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const line of parts) {
      r.lines.push(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; metrics?: string };
        if (rec.msg === 'manager started') r.metricsUrl = rec.metrics;
      } catch {
        // not a log record
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => r.lines.push(d.toString()));
  replicas.push(r);
  return r;
}

async function holder(): Promise<string> {
  const out = await kubectl(['get', 'lease', lease, '-n', ns, '-o', 'jsonpath={.spec.holderIdentity}']).catch(
    () => '',
  );
  return out.trim();
}

async function leaderStatus(r: Replica): Promise<number> {
  return metricValue(r.metricsUrl as string, 'leader_election_master_status', { name: lease });
}

async function timeUntilReconciled(name: string, from: number): Promise<number> {
  await kubectl(['apply', '-f', '-'], widgetYaml(ns, name));
  await waitUntil(
    `${name} Ready`,
    async () => (await widgets(kubectl, ns)).find((w) => w.name === name)?.ready?.status === 'True',
    {
      timeoutMs: 60_000,
      intervalMs: 100,
    },
  );
  return Date.now() - from;
}

beforeAll(async () => {
  if (!env.kube) throw new Error('the shared environment has no apiserver');
  kubectl = kubectlFor(env.kube.kubectlPath, env.kube.kubeconfig);
  await installWidgetCrd(kubectl);
  await kubectl(['create', 'namespace', ns]);
});

afterAll(async () => {
  for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  await kubectl?.(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
});

describe('leader election between two operator processes', () => {
  it('has exactly one leader, and fails over when the leader stops or dies', async () => {
    const a = startReplica('replica-a');
    const b = startReplica('replica-b');
    await waitUntil('both replicas serving metrics', () => a.metricsUrl && b.metricsUrl, {
      timeoutMs: 30_000,
    });
    await waitUntil('a lease holder', async () => (await holder()) !== '' || undefined, {
      timeoutMs: 30_000,
    });
    const first = await holder();
    await waitUntil(
      'leader gauges settled',
      async () => (await leaderStatus(a)) + (await leaderStatus(b)) === 1,
      { timeoutMs: 10_000 },
    );
    const [leader, standby] = first === a.id ? [a, b] : [b, a];
    expect(await leaderStatus(leader)).toBe(1);
    expect(await leaderStatus(standby)).toBe(0);

    // Only the leader reconciles.
    await timeUntilReconciled('one', Date.now());
    const reconciled = async (r: Replica) =>
      metricValue(r.metricsUrl as string, 'controller_runtime_reconcile_total', { controller: 'widget' });
    expect(await reconciled(leader)).toBeGreaterThan(0);
    expect(await reconciled(standby)).toBe(0);
    // Both are ready (warm caches), so either can take over at once.
    for (const r of [leader, standby]) {
      const probes = r.lines.map((l) => /"probes":"([^"]+)"/.exec(l)?.[1]).find(Boolean);
      expect((await fetch(`${probes}/readyz`)).status).toBe(200);
    }

    // Graceful: SIGTERM drains, releases the lease and exits 0; the standby takes over at its next retry.
    const termAt = Date.now();
    leader.child.kill('SIGTERM');
    const gracefulMs = await timeUntilReconciled('after-sigterm', termAt);
    expect(await leader.exit).toBe(0);
    expect(leader.lines.some((l) => l.includes('released the lease'))).toBe(true);
    expect(await holder()).toBe(standby.id);
    process.stderr.write(
      `[runtime] failover after SIGTERM of the leader: ${gracefulMs} ms until the standby reconciled\n`,
    );
    expect(gracefulMs).toBeLessThan(8_000);

    // Crash: SIGKILL leaves the lease held; the standby waits for it to expire (15 s) before taking over.
    const c = startReplica('replica-c');
    await waitUntil('replica-c serving', () => c.metricsUrl, { timeoutMs: 30_000 });
    const killAt = Date.now();
    standby.child.kill('SIGKILL');
    const crashMs = await timeUntilReconciled('after-sigkill', killAt);
    expect(await holder()).toBe(c.id);
    process.stderr.write(
      `[runtime] failover after SIGKILL of the leader: ${crashMs} ms until the new leader reconciled\n`,
    );
    expect(crashMs).toBeGreaterThan(10_000);
    expect(crashMs).toBeLessThan(30_000);
    c.child.kill('SIGTERM');
    expect(await c.exit).toBe(0);
  }, 120_000);
});
