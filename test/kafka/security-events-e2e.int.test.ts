import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { importJWK, SignJWT } from 'jose';
import { generate } from 'otplib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localAlertmanagerConfig } from '../../alerts/alertmanager/local.js';
import { runbookUrl } from '../../alerts/src/model.js';
import { SECURITY_TOPICS } from '../../lib/kafka-topics.js';
import { VaultClient } from '../../lib/vault.js';
import { signWebhook } from '../../services/integration-gateway/src/domain/partner-webhooks.js';
import { pagerDutyTriggers, slackRecordsFor } from '../alerts/real-services.js';
import { writeTestProfileRules } from '../alerts/rule-files.js';
import { aSigningKey } from '../auth-service/helpers.js';
import { type KafkaInstance, startKafka } from '../harness/components/kafka.js';
import { type PostgresInstance, startPostgres } from '../harness/components/postgres.js';
import { type RedisInstance, startRedis } from '../harness/components/redis.js';
import { type Sink, startSink } from '../harness/components/sinks.js';
import { startVault, type VaultInstance } from '../harness/components/vault.js';
import { type Env, startEnv } from '../harness/env.js';
import { freePort } from '../harness/ports.js';
import { ManagedProcess, makeRunDir, removeRunDir } from '../harness/process.js';
import { waitUntil } from '../harness/wait.js';
import { type ReadMessage, readBack } from './helpers.js';
import {
  type AuthKeys,
  type AuthProcess,
  authKeys,
  kafkaEnv,
  post,
  repoRoot,
  seedUser,
  startAuthProcess,
} from './services.js';

/**
 * The security event path end to end (issue 20; runbook 000 "Auth Service MFA Smoke Test" and "Integration
 * Gateway", seed 001 Wave 5): the real auth-service, integration-gateway and audit-service processes, real
 * Kafka (SASL/SCRAM, ACLs), PostgreSQL and OpenBao. A synthetic sign-in, a failed one, an MFA enrollment and a
 * wrong MFA code, and forged tokens at the gateway produce the expected events on `audit.events.v1`,
 * `security.mfa.activity` and `security.alerts.v1` (read back from the broker), the audit-service chains each
 * of them once, and `audit verify` (the CLI) verifies the chain. Seed 001's verification checklist ("synthetic
 * login and webhook tests fire and produce the expected Kafka events plus alert notifications"): a signed
 * partner webhook reaches `audit.events.v1` and the chain, and forged ones page PagerDuty through a real
 * Prometheus (the project's rules, `for:` capped at 2 s) and Alertmanager (the project's routing).
 */
const run = promisify(execFile);
const TENANT = 'e2e';
const EMAIL = 'manager@e2e.test';
const PASSWORD = 'Synthetic-Login-42!';
const CASHIER = 'cashier@e2e.test';
/** The tenant's shared secret with the partner (seed 001: Coinbase webhooks), in OpenBao. */
const WEBHOOK_SECRET = `whsec_${randomBytes(24).toString('hex')}`;
const ROUTING_KEY = `e2e-${randomBytes(12).toString('hex')}`;

let dir: string;
let kafka: KafkaInstance;
let pgi: PostgresInstance;
let vault: VaultInstance;
let redis: RedisInstance;
let keys: AuthKeys;
let auth: AuthProcess;
let gateway: ManagedProcess;
let gatewayUrl: string;
let gatewayAdmin: string;
let audit: ManagedProcess;
let auditAdmin: string;
let auditDbUrl: string;
let auditDb: pg.Client;
let userId: string;
/** Prometheus (the project's rules, test profile), Alertmanager (the project's routing), PagerDuty/Slack sinks. */
let alerting: Env;
let drillSink: Sink;
let secretsDir: string;

async function createDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: pgi.url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(pgi.url);
  url.pathname = `/${name}`;
  return url.toString();
}

beforeAll(async () => {
  dir = makeRunDir('security-events-e2e');
  [kafka, pgi, vault, redis] = await Promise.all([
    startKafka(dir),
    startPostgres(dir),
    startVault(dir),
    startRedis(dir),
  ]);
  keys = await authKeys(vault, 'e2e');
  const logs = `${dir}/logs`;
  auditDbUrl = await createDatabase('audit');
  const authDbUrl = await createDatabase('auth');

  auth = await startAuthProcess(logs, { databaseUrl: authDbUrl, vault, keys, kafka });
  userId = await seedUser(authDbUrl, {
    tenant: TENANT,
    email: EMAIL,
    password: PASSWORD,
    roles: ['manager', 'auditor'],
  });
  await seedUser(authDbUrl, { tenant: TENANT, email: CASHIER, password: PASSWORD, roles: ['cashier'] });

  const auditPort = await freePort();
  auditAdmin = `http://127.0.0.1:${auditPort}`;
  audit = await ManagedProcess.start(
    {
      name: 'audit-service',
      command: process.execPath,
      args: ['--import', 'tsx', 'services/audit-service/src/main.ts'],
      cwd: repoRoot,
      env: {
        DATABASE_URL: auditDbUrl,
        ...kafkaEnv(kafka, 'audit-service'),
        ADMIN_PORT: String(auditPort),
        ADMIN_HOST: '127.0.0.1',
        AUDIT_CHECK_INTERVAL_MS: '500',
        // The query API: users' tokens from auth-service, through its JWKS.
        AUDIT_JWKS_URL: `${auth.url}/.well-known/jwks.json`,
      },
      ready: async () => (await fetch(`${auditAdmin}/healthz`).catch(() => undefined))?.ok ?? false,
      readyTimeoutMs: 60_000,
    },
    logs,
  );

  const [gwPort, gwAdmin] = [await freePort(), await freePort()];
  gatewayUrl = `http://127.0.0.1:${gwPort}`;
  gatewayAdmin = `http://127.0.0.1:${gwAdmin}`;
  gateway = await ManagedProcess.start(
    {
      name: 'integration-gateway',
      command: process.execPath,
      args: ['--import', 'tsx', 'services/integration-gateway/src/main.ts'],
      cwd: repoRoot,
      env: {
        HOST: '127.0.0.1',
        PORT: String(gwPort),
        ADMIN_PORT: String(gwAdmin),
        ADMIN_HOST: '127.0.0.1',
        REDIS_URL: `${redis.url}/9`,
        DATABASE_URL: authDbUrl,
        JWKS_URL: `${auth.url}/.well-known/jwks.json`,
        ...kafkaEnv(kafka, 'integration-gateway'),
        // Shortened for the test: one forged token is an alert, looked at every second.
        SECURITY_ALERT_SIGNATURE_FAILURES: '1',
        SECURITY_ALERT_CHECK_SECONDS: '1',
        // Partner webhooks: the tenant's secret in OpenBao; no upstream, so a verified one is answered 202.
        GATEWAY_WEBHOOK_PARTNERS: 'coinbase',
        VAULT_ADDR: vault.addr,
        VAULT_TOKEN: vault.rootToken,
      },
      ready: async () =>
        (await fetch(`http://127.0.0.1:${gwAdmin}/metrics`).catch(() => undefined))?.ok ?? false,
      readyTimeoutMs: 60_000,
    },
    logs,
  );
  auditDb = new pg.Client({ connectionString: auditDbUrl });
  await auditDb.connect();
  await new VaultClient({ addr: vault.addr, auth: { method: 'token', token: vault.rootToken } }).kvWrite(
    'secret',
    `novapos/partners/coinbase/${TENANT}`,
    { webhook_secret: WEBHOOK_SECRET },
  );

  // The alerting path as shipped, intervals shortened by the generator that makes the shipped rules.
  drillSink = await startSink('webhook');
  secretsDir = mkdtempSync(path.join(os.tmpdir(), 'novapos-am-secrets-'));
  alerting = await startEnv({
    label: 'security-events-e2e',
    prometheus: {
      scrape: {
        'integration-gateway': [new URL(gatewayAdmin).host],
        'auth-service': [new URL(auth.adminUrl).host],
      },
      ruleFiles: writeTestProfileRules('2s'),
      evaluationInterval: '1s',
    },
    alertmanager: {
      config: localAlertmanagerConfig(secretsDir, ROUTING_KEY, {
        url: `${drillSink.url}/drills/alert-delivery`,
      }),
    },
  });
}, 300_000);

afterAll(async () => {
  await alerting?.stop();
  await drillSink?.stop();
  if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
  await auditDb?.end().catch(() => {});
  await Promise.all([gateway?.stop(), auth?.proc.stop(), audit?.stop()]);
  await Promise.all([kafka?.stop(), pgi?.process.stop(), vault?.process?.stop(), redis?.process.stop()]);
  if (process.env.KEEP_RUN_DIR) process.stderr.write(`run dir kept: ${dir}\n`);
  else removeRunDir(dir);
});

const login = (body: Record<string, unknown>) => post(`${auth.url}/login`, body, { 'x-tenant-id': TENANT });
/** One record per event id: delivery is at-least-once, a duplicate carries the same id (and number). */
const unique = (ms: readonly ReadMessage[]) => [
  ...new Map(ms.map((m) => [String(m.value['id']), m])).values(),
];

describe('security events: services → Kafka → audit-service', () => {
  const expected: { topic: string; type: string; outcome?: string }[] = [];
  let totpSecret = '';
  let passwordOnlyToken = '';

  it('a synthetic sign-in, a failed one, MFA enrollment and a wrong MFA code reach their topics', async () => {
    const failed = await login({ email: EMAIL, password: 'not-the-password-1' });
    expect(failed.status).toBe(401);
    expected.push({
      topic: SECURITY_TOPICS.audit.name,
      type: 'login_failed',
      outcome: 'invalid_credentials',
    });

    const ok = await login({ email: EMAIL, password: PASSWORD });
    expect(ok.status).toBe(200);
    expected.push({ topic: SECURITY_TOPICS.audit.name, type: 'login_succeeded', outcome: 'success' });
    const access = String(ok.body['accessToken']);
    passwordOnlyToken = access;

    const started = await post(
      `${auth.url}/mfa/enroll/start`,
      {},
      {
        'x-tenant-id': TENANT,
        authorization: `Bearer ${access}`,
      },
    );
    expect(started.status).toBe(200);
    expected.push({ topic: SECURITY_TOPICS.mfaActivity.name, type: 'mfa_enrollment_started' });
    const secret = String(started.body['secret']);
    totpSecret = secret;
    const completed = await post(
      `${auth.url}/mfa/enroll/complete`,
      { code: await generate({ secret }) },
      { 'x-tenant-id': TENANT, authorization: `Bearer ${access}` },
    );
    expect(completed.status).toBe(200);
    expected.push({ topic: SECURITY_TOPICS.mfaActivity.name, type: 'mfa_enrolled', outcome: 'enrolled' });

    const challenge = await login({ email: EMAIL, password: PASSWORD });
    expect(challenge.status).toBe(401);
    expected.push({
      topic: SECURITY_TOPICS.mfaActivity.name,
      type: 'mfa_challenge',
      outcome: 'mfa_required',
    });
    const wrongCode = await login({ email: EMAIL, password: PASSWORD, mfaCode: '000000' });
    expect(wrongCode.status).toBe(401);
    expected.push({ topic: SECURITY_TOPICS.mfaActivity.name, type: 'mfa_failed', outcome: 'mfa_invalid' });

    const messages = unique(
      await readBack(kafka, [SECURITY_TOPICS.audit.name, SECURITY_TOPICS.mfaActivity.name], (m) =>
        expected.every((e) => m.some((x) => x.topic === e.topic && x.value['type'] === e.type)),
      ),
    );
    for (const e of expected) {
      const got = messages.filter((m) => m.topic === e.topic && m.value['type'] === e.type);
      expect(got, `${e.type} on ${e.topic}`).toHaveLength(1);
      expect(got[0]!.key).toBe(TENANT);
      expect(got[0]!.value).toMatchObject({
        producer: 'auth-service',
        tenant_id: TENANT,
        schema_version: 1,
        ...(e.outcome ? { outcome: e.outcome } : {}),
      });
      if (e.type !== 'login_failed') expect(got[0]!.value['user_id']).toBe(userId);
    }
    // No secret from these requests reached Kafka.
    const raw = messages.map((m) => m.raw).join('\n');
    for (const s of [PASSWORD, secret, access, String(ok.body['refreshToken'])]) expect(raw).not.toContain(s);
  }, 120_000);

  it('forged tokens at the gateway raise a security alert on security.alerts.v1', async () => {
    const forger = await aSigningKey('ES256');
    const token = await new SignJWT({ tid: TENANT, roles: ['admin'] })
      .setProtectedHeader({ alg: 'ES256', kid: keys.key.kid })
      .setIssuer('https://auth.novapos.local')
      .setAudience('novapos-api')
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti('forged-1')
      .sign(await importJWK(forger.privateJwk, 'ES256'));
    const res = await fetch(`${gatewayUrl}/api/tenant/ping`, {
      headers: { authorization: `Bearer ${token}`, 'x-tenant-id': TENANT },
    });
    expect(res.status).toBe(401);
    const metrics = await (await fetch(`${gatewayAdmin}/metrics`)).text();
    expect(metrics).toMatch(/^gateway_signature_verification_failures_total 1$/m);
    expected.push({ topic: SECURITY_TOPICS.alerts.name, type: 'gateway_signature_failures' });
    const alerts = unique(
      await readBack(kafka, [SECURITY_TOPICS.alerts.name], (m) =>
        m.some((x) => x.value['type'] === 'gateway_signature_failures'),
      ),
    );
    const alert = alerts.find((m) => m.value['type'] === 'gateway_signature_failures')!;
    expect(alert.value).toMatchObject({
      producer: 'integration-gateway',
      outcome: 'alert',
      data: { severity: 'critical', count: 1, threshold: 1, window_seconds: 60 },
    });
    expect(alert.raw).not.toContain(token);
  }, 60_000);

  it('a signed partner webhook reaches audit.events.v1; forged ones page PagerDuty through Prometheus and Alertmanager', async () => {
    const delivery = (id: string) =>
      Buffer.from(
        JSON.stringify({
          id: 1,
          event: {
            id,
            type: 'charge:confirmed',
            created_at: new Date().toISOString(),
            data: { code: 'CHG1' },
          },
        }),
      );
    const send = (body: Buffer, signature: string) =>
      fetch(`${gatewayUrl}/webhooks/coinbase/${TENANT}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-cc-webhook-signature': signature },
        body,
      });
    const good = delivery('evt-e2e-1');
    const accepted = await send(good, signWebhook(good, WEBHOOK_SECRET));
    expect(accepted.status).toBe(202);
    expected.push({
      topic: SECURITY_TOPICS.audit.name,
      type: 'partner_webhook_received',
      outcome: 'accepted',
    });
    const [received] = unique(
      await readBack(kafka, [SECURITY_TOPICS.audit.name], (m) =>
        m.some((x) => x.value['type'] === 'partner_webhook_received'),
      ),
    ).filter((m) => m.value['type'] === 'partner_webhook_received');
    expect(received?.key).toBe(TENANT);
    expect(received?.value).toMatchObject({
      producer: 'integration-gateway',
      tenant_id: TENANT,
      actor_role: 'partner',
      data: { partner: 'coinbase', event_id: 'evt-e2e-1', event_type: 'charge:confirmed' },
    });
    expect(received?.raw).not.toContain(WEBHOOK_SECRET);
    expect(received?.raw).not.toContain('CHG1');

    // Forged webhooks: one first, so Prometheus holds the series before the burst (increase() needs a
    // sample before it), then 11 more: above the runbook's ten a minute.
    const forged = (n: number) => {
      const body = delivery(`evt-forged-${n}`);
      return send(body, signWebhook(body, 'not-the-tenant-secret'));
    };
    expect((await forged(0)).status).toBe(401);
    const promValue = async (expr: string) => Number((await alerting.prometheus!.query(expr))[0]?.value[1]);
    await waitUntil(
      'Prometheus to scrape the forged webhook',
      async () =>
        (await promValue(
          'sum(gateway_partner_webhooks_total{job="integration-gateway",outcome="signature_invalid"})',
        )) === 1,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const burst = await Promise.all(Array.from({ length: 11 }, (_, i) => forged(i + 1)));
    expect(burst.map((r) => r.status)).toEqual(Array(11).fill(401));
    const sent = Date.now();
    const [page] = await pagerDutyTriggers(alerting.pagerduty!, 'GatewaySignatureVerificationFailures');
    process.stderr.write(
      `[security-events-e2e] GatewaySignatureVerificationFailures reached PagerDuty ${Date.now() - sent} ms after the forged webhooks\n`,
    );
    expect(page?.routing_key).toBe(ROUTING_KEY);
    expect(page?.payload.severity).toBe('critical');
    expect(page?.links).toEqual([
      { href: runbookUrl('GatewaySignatureVerificationFailures'), text: 'Runbook' },
    ]);
    // A page is not also a Slack message; the shared secret and the routing key reached no sink.
    expect(slackRecordsFor(alerting.slack!, 'GatewaySignatureVerificationFailures')).toEqual([]);
    const delivered = JSON.stringify([...alerting.pagerduty!.records, ...alerting.slack!.records]);
    expect(delivered).not.toContain(WEBHOOK_SECRET);
  }, 120_000);

  it('the audit-service chains every one of them once, and `audit verify` verifies the chain', async () => {
    await waitUntil(
      'every expected event chained',
      async () => {
        const r = await auditDb.query<{ topic: string; event_type: string }>(
          'SELECT topic, event_type FROM audit_logs',
        );
        return expected.every((e) => r.rows.some((x) => x.topic === e.topic && x.event_type === e.type));
      },
      { timeoutMs: 100_000, intervalMs: 250 },
    );
    const dupes = await auditDb.query(
      'SELECT event_id FROM audit_logs GROUP BY event_id HAVING count(*) > 1',
    );
    expect(dupes.rowCount).toBe(0);
    for (const e of expected) {
      const r = await auditDb.query('SELECT 1 FROM audit_logs WHERE topic = $1 AND event_type = $2', [
        e.topic,
        e.type,
      ]);
      expect(r.rowCount, `${e.type} chained once`).toBe(1);
    }
    // Each producer's sequence has no hole.
    const seqs = await auditDb.query<{ producer: string; n: string; max: string }>(
      'SELECT producer, count(*) AS n, max(producer_seq) AS max FROM audit_logs GROUP BY producer',
    );
    for (const s of seqs.rows) expect(Number(s.n), s.producer).toBe(Number(s.max));

    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'services/audit-service/src/verify-cli.ts'],
      {
        cwd: repoRoot,
        env: { ...process.env, DATABASE_URL: auditDbUrl },
      },
    );
    const result = JSON.parse(stdout) as { ok: boolean; checked: number };
    expect(result.ok).toBe(true);
    expect(result.checked).toBeGreaterThanOrEqual(expected.length);
    const metrics = await (await fetch(`${auditAdmin}/metrics`)).text();
    expect(metrics).not.toMatch(/^audit_chain_gap_total\{[^}]*\} [1-9]/m);
  }, 150_000);

  it('the query API: an auditor’s MFA token from auth-service reads its own tenant only; others get stable codes', async () => {
    // An event of another tenant in the chain.
    const elsewhere = await post(
      `${auth.url}/login`,
      { email: EMAIL, password: 'x-wrong-1' },
      { 'x-tenant-id': 'other' },
    );
    expect(elsewhere.status).toBe(401);
    await waitUntil(
      'the other tenant’s event chained',
      async () =>
        ((await auditDb.query("SELECT 1 FROM audit_logs WHERE tenant_id = 'other'")).rowCount ?? 0) > 0,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    const query = (token: string | undefined, params = '') =>
      fetch(
        `${auditAdmin}/audit/events${params}`,
        token ? { headers: { authorization: `Bearer ${token}` } } : {},
      );
    const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

    const none = await query(undefined);
    expect([none.status, await code(none)]).toEqual([401, 'unauthorized']);
    const forged = await query(`${passwordOnlyToken.slice(0, -4)}AAAA`);
    expect([forged.status, await code(forged)]).toEqual([401, 'token_invalid']);
    const noMfa = await query(passwordOnlyToken);
    expect([noMfa.status, await code(noMfa)]).toEqual([403, 'mfa_required']);
    const cashier = await login({ email: CASHIER, password: PASSWORD });
    const cashierRes = await query(String(cashier.body['accessToken']));
    expect([cashierRes.status, await code(cashierRes)]).toEqual([403, 'forbidden']);

    // The auditor signs in with MFA (the next TOTP step: enrollment spent this one).
    const signedIn = await login({
      email: EMAIL,
      password: PASSWORD,
      mfaCode: await generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + 30 }),
    });
    expect(signedIn.status).toBe(200);
    const auditor = String(signedIn.body['accessToken']);
    const other = await query(auditor, '?tenant_id=other');
    expect([other.status, await code(other)]).toEqual([403, 'tenant_mismatch']);
    const own = await query(auditor, '?limit=500');
    expect(own.status).toBe(200);
    const text = await own.text();
    const body = JSON.parse(text) as { events: { event: Record<string, unknown> }[] };
    const types = body.events.map((e) => e.event['type']);
    for (const t of ['login_succeeded', 'login_failed', 'mfa_enrolled', 'mfa_failed'])
      expect(types).toContain(t);
    expect(body.events.every((e) => e.event['tenant_id'] === TENANT)).toBe(true);
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(totpSecret);
  }, 120_000);
});
