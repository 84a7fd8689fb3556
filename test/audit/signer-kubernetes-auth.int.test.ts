import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { connectPostgres, type Db } from '../../lib/service-kit/db.js';
import { AuditRepository } from '../../services/audit-service/src/storage/repo.js';
import { type KafkaInstance, startKafka } from '../harness/components/kafka.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { startVault, type VaultInstance } from '../harness/components/vault.js';
import { freePort } from '../harness/ports.js';
import { type ManagedProcess, makeRunDir, removeRunDir } from '../harness/process.js';
import { serviceAccountToken, vaultKubernetesRole } from '../harness/vault-kube-auth.js';
import { waitUntil } from '../harness/wait.js';
import { metricValue, repoRoot } from '../runtime/support.js';
import { kubernetesVaultIdentity, policy, type VaultIdentity } from '../signing-keys/support.js';
import { anEvent } from './events.js';
import { auditServiceEnv, createChainKey, startAuditProcess } from './support.js';

/**
 * The audit-service's chain-head signer logs in to OpenBao with Kubernetes auth (issue 20), as the chart runs
 * it: the real audit-service process (main.ts) with a ServiceAccount token file, OpenBao's Kubernetes auth
 * checking it against the real kube-apiserver (TokenReview), the repository's policy
 * (operator/vault-policies/audit-service.hcl), real Kafka and PostgreSQL. It signs chain heads that verify
 * (in the service, with OpenBao's transit key, and with `audit verify`). A role bound to another
 * ServiceAccount, or a role that does not exist, is refused: the service is not ready and says why, signs
 * nothing, and becomes ready once the role exists. OpenBao stopped is an outage, not a refusal: still ready,
 * signed when it is back. No token in any log.
 */
const env = inject('env');
const NS = `audit-k8s-${randomBytes(3).toString('hex')}`;
const MOUNT = 'kubernetes';
const CHECKPOINTS = 'novapos/audit-checkpoints';
const run = promisify(execFile);

let dir: string;
let kafka: KafkaInstance;
let pgi: PostgresInstance;
let vault: VaultInstance;
let db: Db;
let identity: VaultIdentity;
const started: ManagedProcess[] = [];
/** Everything the audit-service processes and the verify command wrote, scanned for tokens at the end. */
const outputs: Record<string, string> = {};
/** Tokens made during the tests, looked for in those outputs. */
const secrets: string[] = [];

interface Audit {
  readonly proc: ManagedProcess;
  readonly url: string;
  readiness(): Promise<{ status: number; body: { status: string; checks: Record<string, string> } }>;
  log(): string;
}

/** The real audit-service process, logging in to OpenBao with `jwtPath` for `role`. */
async function startAudit(name: string, role: string, jwtPath: string): Promise<Audit> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // One process at a time, each stopped at the end of its test: the chain rows come from the test.
  const proc = await startAuditProcess(
    name,
    port,
    {
      ...auditServiceEnv(kafka, pgi),
      // What the chart sets (charts/src/constructs/audit-service.ts), with the token file of this test.
      ...vaultEnv(role, jwtPath),
      AUDIT_SIGN_INTERVAL_MS: '300',
      LOG_LEVEL: 'debug',
    },
    path.join(dir, 'logs'),
  );
  started.push(proc);
  return {
    proc,
    url,
    readiness: async () => {
      const res = await fetch(`${url}/readyz`);
      return { status: res.status, body: (await res.json()) as never };
    },
    log: () => readFileSync(proc.logFile, 'utf8'),
  };
}

const vaultEnv = (role: string, jwtPath: string) => ({
  VAULT_ADDR: vault.addr,
  VAULT_AUTH_METHOD: 'kubernetes',
  VAULT_K8S_ROLE: role,
  VAULT_K8S_MOUNT: MOUNT,
  VAULT_K8S_TOKEN_PATH: jwtPath,
  VAULT_TOKEN: '',
});

async function stopAudit(a: Audit, key: string): Promise<void> {
  await a.proc.stop();
  outputs[key] = a.log();
}

const repo = () => new AuditRepository(db);
const message = (seq: number, hash: string) =>
  Buffer.from(`novapos-audit-head:v1:${seq}:${hash}`).toString('base64');
const checkpointAt = async (seq: number) =>
  (
    await vault.request<{ data: { data: { seq: number; hash: string; signature: string } } }>(
      'GET',
      `secret/data/${CHECKPOINTS}/${String(seq).padStart(20, '0')}`,
    )
  ).body?.data?.data;

beforeAll(async () => {
  dir = makeRunDir('audit-k8s-auth');
  [kafka, pgi, vault] = await Promise.all([startKafka(dir), startPostgres(dir), startVault(dir)]);
  db = connectPostgres(pgi.url);
  await createChainKey(vault);
  // The role of the chart: ServiceAccount audit-service of the namespace, the repository's policy.
  identity = await kubernetesVaultIdentity(vault, env.kube!, {
    mount: MOUNT,
    namespace: NS,
    serviceAccount: 'audit-service',
    policyFile: 'audit-service.hcl',
    dir,
  });
}, 180_000);

afterAll(async () => {
  for (const p of started) await p.stop().catch(() => {});
  await db?.close();
  await Promise.all([kafka?.stop(), pgi?.process.stop(), vault?.stop()]);
  removeRunDir(dir);
});

describe('the chain-head signer with Kubernetes auth', () => {
  it('logs in with its ServiceAccount token and signs chain heads that verify', async () => {
    const audit = await startAudit('audit-service', identity.role, identity.jwtPath);
    await waitUntil('ready with the signer logged in', async () => {
      const r = await audit.readiness();
      return r.status === 200 && r.body.checks['signing'] === 'ok';
    });
    expect(await metricValue(audit.url, 'audit_head_signing_state', { state: 'ok' })).toBe(1);

    const appended = await repo().append([1, 2, 3, 4, 5].map(anEvent));
    expect(appended.chained).toHaveLength(5);
    await waitUntil(
      'head 5 signed',
      async () => (await metricValue(audit.url, 'audit_chain_signed_seq')) === 5,
      {
        timeoutMs: 20_000,
      },
    );

    // The checkpoint is in OpenBao (not PostgreSQL), over the head PostgreSQL holds, and the transit key
    // (checked here with the root token, not the service's) says the signature is its own.
    const head = (await db.query<{ entry_hash: string }>('SELECT entry_hash FROM audit_logs WHERE seq = 5'))
      .rows[0]?.entry_hash;
    const cp = await checkpointAt(5);
    expect(cp).toMatchObject({ seq: 5, hash: head });
    const checked = await vault.request<{ data: { valid: boolean } }>(
      'POST',
      'transit/verify/novapos-audit-chain',
      { input: message(5, head ?? ''), signature: cp?.signature },
    );
    expect(checked.body?.data.valid).toBe(true);

    // The service's verify reads the checkpoints back through its own login.
    const verified = await fetch(`${audit.url}/audit/verify`);
    expect(verified.status).toBe(200);
    expect(await verified.json()).toMatchObject({ ok: true, signedHeads: { lastGoodSeq: 5 } });

    // `audit verify` as a command with the same Kubernetes login.
    const cli = await run(process.execPath, ['--import', 'tsx', 'services/audit-service/src/verify-cli.ts'], {
      cwd: repoRoot,
      env: {
        ...process.env,
        DATABASE_URL: pgi.url,
        ...vaultEnv(identity.role, identity.jwtPath),
      },
    });
    outputs['verify-cli'] = cli.stdout + cli.stderr;
    expect(JSON.parse(cli.stdout)).toMatchObject({ ok: true, signedHeads: { lastGoodSeq: 5 } });
    await stopAudit(audit, 'audit-service');
  });

  it('the policy is least privilege: the signer cannot rewrite a checkpoint or read another secret', async () => {
    const client = identity.client;
    await expect(
      client.kvWrite('secret', `${CHECKPOINTS}/${String(5).padStart(20, '0')}`, { seq: 5, hash: 'forged' }),
    ).rejects.toMatchObject({ code: 'forbidden' });
    await expect(client.kvRead('secret', `novapos/signing-keys/${NS}/auth/keyset`)).rejects.toMatchObject({
      code: 'forbidden',
    });
    expect(await checkpointAt(5)).not.toMatchObject({ hash: 'forged' });
  });

  it('refuses a role bound to another ServiceAccount: not ready, one clear line, no head signed', async () => {
    const intruderJwt = await serviceAccountToken(env.kube!, NS, 'intruder', { expirationSeconds: 3600 });
    const intruderPath = path.join(dir, 'intruder.jwt');
    writeFileSync(intruderPath, intruderJwt, { mode: 0o600 });
    secrets.push(intruderJwt);
    const before = (await repo().newest()).seq;
    await repo().append([6, 7].map(anEvent));

    const audit = await startAudit('audit-wrong-sa', identity.role, intruderPath);
    const r = await audit.readiness();
    expect(r.status).toBe(503);
    expect(r.body).toMatchObject({ status: 'not_ready', checks: { database: 'ok', signing: 'refused' } });
    expect(await metricValue(audit.url, 'audit_head_signing_state', { state: 'refused' })).toBe(1);
    expect(
      await metricValue(audit.url, 'audit_head_signing_failures_total', { reason: 'login_failed' }),
    ).toBeGreaterThanOrEqual(1);
    // It keeps retrying (the interval is 300 ms) and keeps refusing; nothing was signed past the head before.
    await waitUntil(
      'a few retries',
      async () =>
        (await metricValue(audit.url, 'audit_head_signing_failures_total', { reason: 'login_failed' })) >= 3,
    );
    expect((await audit.readiness()).status).toBe(503);
    expect(await metricValue(audit.url, 'audit_chain_signed_seq')).toBe(0);
    expect(await checkpointAt(before + 2)).toBeUndefined();
    // verify gives no verdict it cannot back: the signed heads are out of its reach.
    const verify = await fetch(`${audit.url}/audit/verify`);
    expect(verify.status).toBe(503);
    expect(await verify.json()).toMatchObject({ error: { code: 'signed_heads_unavailable' } });

    const refusals = audit
      .log()
      .split('\n')
      .filter((l) => l.includes('"audit_head_signer_refused"'));
    // One line (not one per retry) that names the role and says what to check.
    expect(refusals).toHaveLength(1);
    expect(JSON.parse(refusals[0] ?? '{}')).toMatchObject({
      level: expect.anything(),
      vault_error: 'login_failed',
      role: identity.role,
      mount: MOUNT,
      error: `kubernetes auth login for role ${identity.role} answered 403`,
      msg: expect.stringMatching(/Vault refused .*signer.*not ready.*VAULT_K8S_ROLE/),
    });
    await stopAudit(audit, 'audit-wrong-sa');
  });

  it('refuses a role that does not exist, and is ready without a restart once it does', async () => {
    const role = `audit-service-late-${randomBytes(2).toString('hex')}`;
    const audit = await startAudit('audit-missing-role', role, identity.jwtPath);
    expect(await audit.readiness()).toMatchObject({ status: 503, body: { checks: { signing: 'refused' } } });

    await vaultKubernetesRole(vault, {
      name: role,
      policyName: role,
      policy: policy('audit-service.hcl'),
      namespace: NS,
      serviceAccount: 'audit-service',
      mount: MOUNT,
    });
    await waitUntil('ready once the role exists', async () => (await audit.readiness()).status === 200, {
      timeoutMs: 20_000,
    });
    const head = (await repo().newest()).seq;
    await waitUntil(
      `head ${head} signed`,
      async () => (await metricValue(audit.url, 'audit_chain_signed_seq')) === head,
      { timeoutMs: 20_000 },
    );
    expect(audit.log()).toContain('"audit_head_signer_ready"');
    await stopAudit(audit, 'audit-missing-role');
  });

  it('is still ready while Vault is unreachable (an outage, not a refusal), and signs the head once it is back', async () => {
    const audit = await startAudit('audit-outage', identity.role, identity.jwtPath);
    expect(await audit.readiness()).toMatchObject({ status: 200, body: { checks: { signing: 'ok' } } });
    await vault.stopServer();
    try {
      await repo().append([8, 9].map(anEvent));
      await waitUntil(
        'the signer to see the outage',
        async () => (await audit.readiness()).body.checks['signing'] === 'unavailable',
        { timeoutMs: 20_000 },
      );
      expect((await audit.readiness()).status).toBe(200);
      expect(
        await metricValue(audit.url, 'audit_head_signing_failures_total', { reason: 'unavailable' }),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await vault.startServer();
    }
    const head = (await repo().newest()).seq;
    await waitUntil(
      `head ${head} signed after the outage`,
      async () => (await metricValue(audit.url, 'audit_chain_signed_seq')) === head,
      { timeoutMs: 30_000 },
    );
    expect((await audit.readiness()).body.checks['signing']).toBe('ok');
    // One warning for the outage, however many retries it took.
    expect(
      audit
        .log()
        .split('\n')
        .filter((l) => l.includes('"audit_head_sign_failed"')),
    ).toHaveLength(1);
    await stopAudit(audit, 'audit-outage');
  });

  it('writes no token or secret to any log', async () => {
    const serviceJwt = readFileSync(identity.jwtPath, 'utf8').trim();
    // A token of the same role, to know what OpenBao's tokens look like (the service's own are never shown).
    const sample = await identity.client.login();
    const tokenShape = /\b(?:s|hvs|hvb|b)\.[A-Za-z0-9]{20,}/;
    expect(sample).toMatch(tokenShape);
    const all = [serviceJwt, sample, vault.rootToken, kafka.services['audit-service'].password, ...secrets];
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining([
        'audit-service',
        'verify-cli',
        'audit-wrong-sa',
        'audit-missing-role',
        'audit-outage',
      ]),
    );
    for (const [where, text] of Object.entries(outputs)) {
      expect(text.length, `${where} wrote something`).toBeGreaterThan(0);
      for (const s of all) expect(text.includes(s), `a secret in ${where}'s output`).toBe(false);
      expect(text, `a Vault token in ${where}'s output`).not.toMatch(tokenShape);
      expect(text, `a JWT in ${where}'s output`).not.toMatch(/eyJ[\w-]{10,}\.eyJ[\w-]{10,}/);
    }
  });
});
