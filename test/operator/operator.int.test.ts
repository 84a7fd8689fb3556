import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { stringify } from 'yaml';
import { configKey } from '../../lib/ratelimit-contract.js';
import { VaultClient } from '../../lib/vault.js';
import { privateRedisDb } from '../harness/env.js';
import { freePort } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

type Cond = { type: string; status: string; reason: string; message: string };

/**
 * The operator as it is deployed: `operator/src/main.ts` in its own process, its controllers built from the
 * environment alone (operator/src/wiring.ts), against the shared apiserver, OpenBao and Redis.
 */
describe('the operator process: every controller wired from its configuration', () => {
  const env = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const ns = `op-wiring-${suffix}`;
  const tenant = `acme-${suffix}`;
  // A logical database of its own on the shared Redis: other suites' gateway replicas register in the shared one,
  // and this suite asserts that no replica acknowledged its tenant.
  const redisUrl = privateRedisDb(env.redisUrl, 11);
  const root = new VaultClient({
    addr: env.vaults[0]!.addr,
    auth: { method: 'token', token: env.vaults[0]!.rootToken },
  });
  let operator: ChildProcess;
  let output = '';
  let metricsPort = 0;

  const kubectl = (args: string[], input?: string) =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(env.kube!.kubectlPath, ['--kubeconfig', env.kube!.kubeconfig, ...args]);
      let out = '';
      let err = '';
      p.stdout.on('data', (c) => (out += c));
      p.stderr.on('data', (c) => (err += c));
      p.on('close', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err}`)),
      );
      p.stdin.end(input ?? '');
    });
  const conditions = async (kind: string, name: string): Promise<Cond[]> =>
    (
      JSON.parse(await kubectl(['get', kind, name, '-n', ns, '-o', 'json'])) as {
        status?: { conditions?: Cond[] };
      }
    ).status?.conditions ?? [];
  const ready = async (kind: string, name: string) =>
    (await conditions(kind, name)).find((c) => c.type === 'Ready')?.status === 'True';

  beforeAll(async () => {
    await kubectl(['create', 'namespace', ns]);
    await root.kvWrite('secret', `${ns}/source`, { API_TOKEN_TTL: '15m', FEATURE_FLAG: 'on' });
    metricsPort = await freePort();
    // The operator's configuration file: promotions of this namespace may read and write the local Vault,
    // and this namespace owns the tenant.
    const connectionsFile = path.join(mkdtempSync(path.join(tmpdir(), 'op-wiring-')), 'connections.yaml');
    writeFileSync(
      connectionsFile,
      stringify({
        connections: { local: { promotion: { source: true, target: true, namespaces: [ns] } } },
        tenantOwners: [{ namespace: ns, tenants: [tenant] }],
      }),
    );
    operator = spawn(process.execPath, ['--import', 'tsx', 'operator/src/main.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        KUBECONFIG: env.kube!.kubeconfig,
        VAULT_ADDR: env.vaults[0]!.addr,
        VAULT_TOKEN: env.vaults[0]!.rootToken,
        REDIS_URL: redisUrl,
        OPERATOR_CONNECTIONS_FILE: connectionsFile,
        POD_NAMESPACE: ns,
        // Only this suite's namespace: other suites run controllers of their own on the shared apiserver.
        OPERATOR_WATCH_NAMESPACES: ns,
        OPERATOR_BIND_ADDRESS: '127.0.0.1',
        OPERATOR_METRICS_PORT: String(metricsPort),
        OPERATOR_PROBES_PORT: String(await freePort()),
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    operator.stdout?.on('data', (c) => (output += c));
    operator.stderr?.on('data', (c) => (output += c));
  });

  afterAll(async () => {
    if (operator && operator.exitCode === null) {
      operator.kill('SIGTERM');
      await new Promise((r) => operator.once('exit', r));
    }
    await kubectl(['delete', 'namespace', ns, '--wait=false']).catch(() => {});
  });

  it('starts every controller its configuration supports and says which it skipped and why', async () => {
    await waitUntil(
      'the operator to serve /metrics',
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).ok,
      {
        timeoutMs: 30_000,
      },
    );
    expect(output).toMatch(/"controller":"disasterrecoverydrill".*"why":"needs DRILL_AUTH_SERVICE_URL/);
    for (const c of ['signingkeyrotation', 'secretpromotion', 'tenantratelimit'])
      expect(output).not.toMatch(new RegExp(`"controller":"${c}","why"`));
  });

  it('reconciles a SigningKeyRotation and a SecretPromotion to Ready and publishes a TenantRateLimit', async () => {
    const resources = [
      {
        apiVersion: 'security.novapos.io/v1alpha1',
        kind: 'SigningKeyRotation',
        metadata: { name: 'issuer', namespace: ns },
        spec: {
          issuer: 'https://auth.novapos.local',
          audiences: ['novapos-api'],
          algorithm: 'ES256',
          rotationInterval: '720h',
          leadTime: '48h',
          maxTokenTTL: '15m',
          jwksCacheTTL: '5m',
          vault: { connection: 'local', mount: 'secret' },
        },
      },
      {
        apiVersion: 'security.novapos.io/v1alpha1',
        kind: 'TenantRateLimit',
        metadata: { name: 'acme', namespace: ns },
        spec: { tenant, requestsPerMinute: 60, burst: 10 },
      },
      {
        apiVersion: 'security.novapos.io/v1alpha1',
        kind: 'SecretPromotion',
        metadata: { name: 'to-copy', namespace: ns },
        spec: {
          source: { connection: 'local', mount: 'secret', path: `${ns}/source` },
          targets: [{ name: 'copy', connection: 'local', mount: 'secret', path: `${ns}/copy` }],
          requireApproval: false,
          mode: 'oneShot',
        },
      },
    ];
    await kubectl(['apply', '-f', '-'], resources.map((r) => stringify(r)).join('---\n'));
    // No gateway runs here: the TenantRateLimit is published but honestly not Ready (nobody acknowledged it).
    await waitUntil('the TenantRateLimit published and waiting for gateways', async () =>
      (await conditions('tenantratelimit', 'acme')).some((c) => c.reason === 'NoGatewayReplicas'),
    );
    for (const [kind, name] of [
      ['signingkeyrotation', 'issuer'],
      ['secretpromotion', 'to-copy'],
    ] as const) {
      await waitUntil(`${kind}/${name} Ready`, () => ready(kind, name), {
        timeoutMs: 60_000,
        intervalMs: 500,
      }).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${JSON.stringify(await conditions(kind, name))}`);
      });
    }
    // What each did, seen from the outside: keys in OpenBao, limits in Redis, the secret copied.
    const keyset = await root.kvRead('secret', `novapos/signing-keys/${ns}/issuer/keyset`);
    expect((keyset?.data as { activeKid?: string } | undefined)?.activeKid).toBeTruthy();
    const redis = new Redis(redisUrl);
    try {
      expect(JSON.parse((await redis.get(configKey(tenant))) ?? '{}')).toMatchObject({
        requestsPerMinute: 60,
      });
    } finally {
      redis.disconnect();
    }
    expect((await root.kvRead('secret', `${ns}/copy`))?.data).toEqual({
      API_TOKEN_TTL: '15m',
      FEATURE_FLAG: 'on',
    });

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const reconciled = (c: string) =>
      metrics
        .split('\n')
        .filter((l) => l.startsWith('controller_runtime_reconcile_total{') && l.includes(`controller="${c}"`))
        .filter((l) => /result="(success|requeue_after)"/.test(l))
        .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    for (const c of ['signingkeyrotation', 'tenantratelimit', 'secretpromotion'])
      expect(reconciled(c), `successful reconciles of ${c}`).toBeGreaterThan(0);
    // The copied values and the Vault token never reach the logs.
    expect(output).not.toContain(env.vaults[0]!.rootToken);
    expect(output).not.toContain('FEATURE_FLAG":"on');
  });

  it('stops on SIGTERM, releasing its lease, with exit code 0', async () => {
    operator.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => operator.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    const lease = JSON.parse(await kubectl(['get', 'lease', 'novapos-operator', '-n', ns, '-o', 'json'])) as {
      spec: { holderIdentity?: string };
    };
    expect(lease.spec.holderIdentity ?? '').toBe('');
  });
});
