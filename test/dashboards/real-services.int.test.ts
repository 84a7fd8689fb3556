import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboards } from '../../dashboards/src/index.js';
import { panelQueries, substituteVariables } from '../../dashboards/src/queries.js';
import { configFromEnv as gatewayConfigFromEnv } from '../../services/integration-gateway/src/config.js';
import { type RunningGateway, startGateway } from '../../services/integration-gateway/src/server.js';
import {
  type AuthDeployment,
  aPassword,
  BOOTSTRAP_TOKEN,
  errorCode,
  request,
  startAuthDeployment,
} from '../alerts/real-services.js';
import { writeTestProfileRules } from '../alerts/rule-files.js';
import {
  AUDIENCE,
  aSigningKey,
  awaitFreshTotpWindow,
  ISSUER,
  LogCapture,
  totpNow,
} from '../auth-service/helpers.js';
import { reloadPrometheus } from '../harness/components/prometheus.js';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';

/**
 * Every dashboard panel whose metrics the REAL services export, run against a real Prometheus scraping the real
 * auth-service and integration gateway (real PostgreSQL, OpenBao, Redis) after smoke traffic through their
 * APIs, with the project's recording rules loaded: each query must return data.
 *
 * The operator's panels (key rotation, secret promotion, reconciles, drills, applied tenant limits) are left to
 * the operator's end-to-end test: their metrics come from the operator process only. The test below that
 * classifies every panel fails when a panel reads neither a service metric nor an operator one.
 */

/** Metric families only the operator exports. */
const OPERATOR_METRICS =
  /\b(novapos_signing_key_|novapos_secret_promotion_|novapos_drill_|novapos_tenant_rate_limit_applied|controller_runtime_|workqueue_|leader_election_)/;
/**
 * The audit-service's own families: its panels are checked in test/dashboards/queries.int.test.ts against a
 * target exporting the service's real AuditMetrics registry (this file starts no Kafka for a running one).
 */
const AUDIT_METRICS = /\b(audit_|security_events_outbox_)/;
/** What the services (and the recording rules over their metrics) provide. */
const SERVICE_METRICS =
  /\b(auth_|http_request_duration_seconds|http_requests_total|gateway_|gateway:|slo:auth_token_validation_latency|slo:gateway_requests_not_rate_limited|up\{)/;

const TENANT = 'dashco';

describe('dashboard queries against the real services', () => {
  let env: Env;
  let auth: AuthDeployment;
  let gateway: RunningGateway;
  let traffic: NodeJS.Timeout | undefined;
  const all = panelQueries(dashboards());
  const covered = all.filter((q) => SERVICE_METRICS.test(q.expr) && !OPERATOR_METRICS.test(q.expr));

  beforeAll(async () => {
    const started = Date.now();
    const ruleFiles = writeTestProfileRules('2s');
    env = await startEnv({
      label: 'dashboards-real',
      postgres: true,
      redis: true,
      vault: 1,
      prometheus: { ruleFiles, evaluationInterval: '1s' },
    });
    auth = await startAuthDeployment(
      { postgresUrl: env.postgres!.url, vaultAddr: env.vault!.addr, vaultRootToken: env.vault!.rootToken },
      { label: 'dashboards-real', replicas: 1 },
    );
    gateway = await startGateway(
      gatewayConfigFromEnv({
        PORT: '0',
        ADMIN_PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        REDIS_URL: env.redis!.url,
        DATABASE_URL: auth.databaseUrl,
        JWKS_URL: `${auth.replicas[0]!.url}/.well-known/jwks.json`,
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        // 30 requests at once, then one every 2 s: the volley below overruns it, the steady traffic does not.
        GATEWAY_RATE_LIMIT_RPM: '30',
        GATEWAY_METRIC_TENANTS: TENANT,
      }),
      { logDestination: new LogCapture() },
    );
    await reloadPrometheus(env.prometheus!, {
      scrape: {
        'auth-service': auth.addresses,
        // The gateway's /metrics is on its admin port.
        'integration-gateway': [`127.0.0.1:${gateway.adminPort}`],
      },
      ruleFiles,
      evaluationInterval: '1s',
    });
    await smokeTraffic();
    process.stderr.write(
      `[dashboards-real] services up and smoke traffic sent in ${Date.now() - started} ms\n`,
    );
  });

  afterAll(async () => {
    if (traffic) clearInterval(traffic);
    await gateway?.close();
    await auth?.close();
    await env?.stop();
  });

  /** Runbook 000's smoke test and the gateway's normal use, through the APIs only. */
  async function smokeTraffic(): Promise<void> {
    const svc = auth.replicas[0]!.url;
    const call = (method: string, path: string, opts: Parameters<typeof request>[3] = {}) =>
      request(svc, method, path, { tenant: TENANT, ...opts });
    const adminEmail = 'owner@dashco.test';
    const adminPassword = aPassword();
    expect(
      (
        await call('POST', '/register-first', {
          body: { email: adminEmail, password: adminPassword },
          headers: { 'x-bootstrap-token': BOOTSTRAP_TOKEN },
        })
      ).status,
    ).toBe(201);

    // The admin must enroll MFA: one wrong code, then the right one.
    const first = await call('POST', '/login', { body: { email: adminEmail, password: adminPassword } });
    expect(errorCode(first)).toBe('mfa_enrollment_required');
    const enrollmentToken = String(first.body['enrollmentToken']);
    const start = await call('POST', '/mfa/enroll/start', { token: enrollmentToken });
    const totpSecret = String(start.body['secret']);
    expect(
      errorCode(
        await call('POST', '/mfa/enroll/complete', { token: enrollmentToken, body: { code: '000000' } }),
      ),
    ).toBe('mfa_invalid');
    await awaitFreshTotpWindow();
    const enrolled = await call('POST', '/mfa/enroll/complete', {
      token: enrollmentToken,
      body: { code: await totpNow(totpSecret) },
    });
    expect(enrolled.status).toBe(200);
    const admin = String(enrolled.body['accessToken']);

    // Logins: MFA missing, MFA wrong, password wrong until an account locks.
    expect(
      errorCode(await call('POST', '/login', { body: { email: adminEmail, password: adminPassword } })),
    ).toBe('mfa_required');
    expect(
      errorCode(
        await call('POST', '/login', {
          body: { email: adminEmail, password: adminPassword, mfaCode: '000000' },
        }),
      ),
    ).toBe('mfa_invalid');
    for (let i = 0; i < 5; i++) {
      const r = await call('POST', '/login', {
        body: { email: 'nobody@dashco.test', password: aPassword() },
      });
      expect(errorCode(r)).toBe('invalid_credentials');
    }

    // A cashier signs in without MFA; then the tenant requires MFA, and the cashier's refresh is a bypass attempt.
    const cashierEmail = 'cashier@dashco.test';
    const cashierPassword = aPassword();
    expect(
      (
        await call('POST', '/register', {
          token: admin,
          body: { email: cashierEmail, password: cashierPassword, roles: ['user'] },
        })
      ).status,
    ).toBe(201);
    const cashier = await call('POST', '/login', {
      body: { email: cashierEmail, password: cashierPassword },
    });
    expect(cashier.status).toBe(200);
    expect((await call('PUT', '/tenant/settings', { token: admin, body: { requireMfa: true } })).status).toBe(
      200,
    );
    const refused = await call('POST', '/refresh', { body: { refreshToken: cashier.body['refreshToken'] } });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect((await call('GET', '/api-keys', { token: 'not.a.token' })).status).toBe(401);

    // An API key for the gateway, and a token signed by a key the issuer never published.
    const created = await call('POST', '/api-keys', { token: admin, body: { name: 'dashboards-smoke' } });
    expect(created.status).toBe(201);
    const apiKey = String(created.body['key']);
    const foreign = await aSigningKey('ES256', auth.key.kid);
    const forged = await new SignJWT({ tid: TENANT, roles: ['admin'], amr: ['pwd', 'mfa'] })
      .setProtectedHeader({ alg: 'ES256', kid: auth.key.kid })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject('forger')
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti('forged-1')
      .sign(await importJWK(foreign.privateJwk, 'ES256'));

    const gw = gateway.url;
    const ping = (headers: Record<string, string>) => request(gw, 'GET', '/api/tenant/ping', { headers });
    expect((await ping({ authorization: `Bearer ${admin}` })).status).toBe(200);
    expect((await ping({ 'x-api-key': apiKey })).status).toBe(200);
    expect((await ping({ authorization: `Bearer ${forged}` })).status).toBe(401);
    // A batch job overruns the tenant's limit.
    const volley = await Promise.all(Array.from({ length: 40 }, () => ping({ 'x-api-key': apiKey })));
    expect(volley.filter((r) => r.status === 429).length).toBeGreaterThan(0);

    // And then steady traffic, so rates and latency histograms have samples in every window.
    let tick = 0;
    traffic = setInterval(() => {
      void call('GET', '/api-keys', { token: admin }).catch(() => {});
      if (tick++ % 3 === 0) void ping({ 'x-api-key': apiKey }).catch(() => {});
    }, 1_000);
  }

  it('classifies every panel: read from the services here, or from the operator', () => {
    const operatorOnly = all.filter((q) => OPERATOR_METRICS.test(q.expr));
    const auditOnly = all.filter((q) => AUDIT_METRICS.test(q.expr) && !covered.includes(q));
    const unclassified = all.filter(
      (q) => !covered.includes(q) && !operatorOnly.includes(q) && !auditOnly.includes(q),
    );
    expect(unclassified.map((q) => `${q.dashboard} / ${q.panel}: ${q.expr}`)).toEqual([]);
    process.stderr.write(
      `[dashboards-real] ${covered.length} panel queries checked against the real services; ${operatorOnly.length} ` +
        `read operator metrics and are not:\n${operatorOnly.map((q) => `  - ${q.dashboard} / ${q.panel}`).join('\n')}\n` +
        `[dashboards-real] ${auditOnly.length} read the audit-service's metrics (checked in dashboards/queries)\n`,
    );
    expect(covered.some((q) => q.dashboard === 'auth')).toBe(true);
    expect(covered.some((q) => q.dashboard === 'gateway')).toBe(true);
  });

  it.each(covered.map((q) => [`${q.dashboard} / ${q.panel}: ${q.expr}`, q.expr] as const))(
    '%s returns data',
    async (_, expr) => {
      const concrete = substituteVariables(expr);
      const result = await waitUntil(
        `data for ${concrete}`,
        async () => {
          const r = await env.prometheus!.query(concrete);
          return r.length > 0 ? r : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      expect(result.length).toBeGreaterThan(0);
    },
  );
});
