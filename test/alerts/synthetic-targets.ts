/**
 * Stand-ins for the scrape targets of auth-service, integration-gateway and the operator: real prom-client
 * registries on real ports, exposing the metric names and labels of docs/contracts.md and the runbooks (see
 * "Metric label conventions" in docs/security/README.md). Used until the alert and dashboard tests run against
 * the real services; the tests drive the counters directly.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { AuditMetrics } from '../../services/audit-service/src/metrics.js';

export interface Target {
  readonly registry: Registry;
  /** host:port for a Prometheus static_config. */
  readonly address: string;
}

function serve(registry: Registry): Promise<{ server: http.Server; address: string }> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, address: `127.0.0.1:${port}` });
    });
  });
}

function authMetrics(registers: Registry[]) {
  return {
    loginAttempts: new Counter({
      name: 'auth_login_attempts_total',
      help: 'Login attempts by outcome',
      labelNames: ['tenant', 'outcome'] as const,
      registers,
    }),
    mfaEvents: new Counter({
      name: 'auth_mfa_events_total',
      help: 'MFA events by outcome and route',
      labelNames: ['tenant', 'outcome', 'route'] as const,
      registers,
    }),
    jwtValidationDuration: new Histogram({
      name: 'auth_jwt_validation_duration_seconds',
      help: 'Token validation time',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1],
      registers,
    }),
    jwtValidationFailures: new Counter({
      name: 'auth_jwt_validation_failures_total',
      help: 'Token validations that failed',
      labelNames: ['reason'] as const,
      registers,
    }),
    mfaEnrolledUsers: new Gauge({
      name: 'auth_mfa_enrolled_users',
      help: 'Users with MFA enrolled',
      labelNames: ['tenant'] as const,
      registers,
    }),
    users: new Gauge({ name: 'auth_users', help: 'Users', labelNames: ['tenant'] as const, registers }),
    accountLockouts: new Counter({
      name: 'auth_account_lockouts_total',
      help: 'Accounts locked after repeated failures',
      labelNames: ['tenant'] as const,
      registers,
    }),
    ...httpMetrics(registers),
  };
}

function httpMetrics(registers: Registry[]) {
  return {
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: [0.01, 0.05, 0.1, 0.2, 0.5, 1, 2.5],
      registers,
    }),
  };
}

function gatewayMetrics(registers: Registry[]) {
  return {
    checks: new Counter({
      name: 'gateway_rate_limit_checks_total',
      help: 'Rate-limit decisions by outcome',
      labelNames: ['outcome'] as const,
      registers,
    }),
    hits: new Counter({
      name: 'gateway_rate_limit_hits_total',
      help: 'Requests charged to a tenant limit',
      labelNames: ['tenant'] as const,
      registers,
    }),
    rejections: new Counter({
      name: 'gateway_rate_limit_rejections_total',
      help: 'Requests rejected by the limiter',
      labelNames: ['tenant'] as const,
      registers,
    }),
    mode: new Gauge({
      name: 'gateway_rate_limit_mode',
      help: 'Limiter mode (1 = current)',
      labelNames: ['mode'] as const,
      registers,
    }),
    apiKeyRequests: new Counter({
      name: 'gateway_api_key_requests_total',
      help: 'Requests per API key prefix',
      labelNames: ['key_prefix'] as const,
      registers,
    }),
    signatureFailures: new Counter({
      name: 'gateway_signature_verification_failures_total',
      help: 'Signature verification failures',
      registers,
    }),
    // The fleet's token metrics, as the real gateway exports them (services/integration-gateway/src/metrics.ts).
    jwtValidationFailures: new Counter({
      name: 'auth_jwt_validation_failures_total',
      help: 'Access tokens refused, by reason',
      labelNames: ['reason'] as const,
      registers,
    }),
    jwtValidationDuration: new Histogram({
      name: 'auth_jwt_validation_duration_seconds',
      help: 'Time to validate an access token, by cache (hit, miss)',
      labelNames: ['cache'] as const,
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1],
      registers,
    }),
    ...httpMetrics(registers),
  };
}

function operatorMetrics(registers: Registry[]) {
  const resource = ['namespace', 'name'] as const;
  return {
    reconciles: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Reconciles',
      labelNames: ['controller', 'result'] as const,
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Reconcile errors',
      labelNames: ['controller'] as const,
      registers,
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Reconcile time',
      labelNames: ['controller'] as const,
      registers,
    }),
    queueDepth: new Gauge({
      name: 'workqueue_depth',
      help: 'Queue depth',
      labelNames: ['name'] as const,
      registers,
    }),
    queueAdds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Queue adds',
      labelNames: ['name'] as const,
      registers,
    }),
    queueDuration: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'Queue wait',
      labelNames: ['name'] as const,
      registers,
    }),
    queueRetries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Queue retries',
      labelNames: ['name'] as const,
      registers,
    }),
    leader: new Gauge({
      name: 'leader_election_master_status',
      help: 'Leader',
      labelNames: ['name'] as const,
      registers,
    }),
    nextRotation: new Gauge({
      name: 'novapos_signing_key_next_rotation_timestamp_seconds',
      help: 'Next rotation',
      labelNames: resource,
      registers,
    }),
    keyAge: new Gauge({
      name: 'novapos_signing_key_age_seconds',
      help: 'Key age',
      labelNames: [...resource, 'state'] as const,
      registers,
    }),
    rotations: new Counter({
      name: 'novapos_signing_key_rotations_total',
      help: 'Rotations',
      labelNames: [...resource, 'reason'] as const,
      registers,
    }),
    servicesLoaded: new Gauge({
      name: 'novapos_signing_key_services_loaded',
      help: 'Service loaded the current key set',
      labelNames: [...resource, 'service'] as const,
      registers,
    }),
    promotions: new Counter({
      name: 'novapos_secret_promotion_total',
      help: 'Promotions',
      labelNames: [...resource, 'result'] as const,
      registers,
    }),
    promotionConflicts: new Counter({
      name: 'novapos_secret_promotion_conflicts_total',
      help: 'Promotion conflicts',
      labelNames: resource,
      registers,
    }),
    promotionLastSuccess: new Gauge({
      name: 'novapos_secret_promotion_last_success_timestamp_seconds',
      help: 'Last successful promotion',
      labelNames: resource,
      registers,
    }),
    rateLimitApplied: new Gauge({
      name: 'novapos_tenant_rate_limit_applied',
      help: 'Tenant limit acknowledged by the gateway',
      labelNames: ['tenant'] as const,
      registers,
    }),
    drillLastSuccess: new Gauge({
      name: 'novapos_drill_last_success_timestamp_seconds',
      help: 'Last successful drill',
      labelNames: resource,
      registers,
    }),
    drillStep: new Gauge({
      name: 'novapos_drill_step_result',
      help: 'Drill step result (1 passed, 0 failed)',
      labelNames: [...resource, 'step'] as const,
      registers,
    }),
  };
}

export interface SyntheticTargets {
  /** Prometheus scrape jobs, named as in production: job → [host:port]. */
  readonly scrape: Record<string, string[]>;
  readonly auth: ReturnType<typeof authMetrics>;
  readonly gateway: ReturnType<typeof gatewayMetrics>;
  readonly operator: ReturnType<typeof operatorMetrics>;
  /** The audit-service's own metrics class (its names and labels as shipped). */
  readonly audit: AuditMetrics;
  /** A healthy system: every series the dashboards read exists, nothing above an alert threshold. */
  smokeTraffic(): void;
  stop(): Promise<void>;
}

export async function startSyntheticTargets(): Promise<SyntheticTargets> {
  const registries = { auth: new Registry(), gateway: new Registry(), operator: new Registry() };
  const auth = authMetrics([registries.auth]);
  const gateway = gatewayMetrics([registries.gateway]);
  const operator = operatorMetrics([registries.operator]);
  const audit = new AuditMetrics();
  const servers = await Promise.all([
    serve(registries.auth),
    serve(registries.gateway),
    serve(registries.operator),
    serve(audit.registry),
  ]);
  const [authServer, gatewayServer, operatorServer, auditServer] = servers;

  function smokeTraffic(): void {
    const now = Date.now() / 1000;
    for (const tenant of ['smoke-a', 'smoke-b']) {
      auth.loginAttempts.inc({ tenant, outcome: 'success' }, 5);
      auth.loginAttempts.inc({ tenant, outcome: 'invalid_credentials' }, 1);
      auth.loginAttempts.inc({ tenant, outcome: 'mfa_required' }, 2);
      auth.mfaEvents.inc({ tenant, outcome: 'success', route: '/login' }, 2);
      auth.accountLockouts.inc({ tenant }, 0);
      auth.mfaEvents.inc({ tenant, outcome: 'mfa_invalid', route: '/login' }, 1);
      auth.mfaEvents.inc({ tenant, outcome: 'bypass_attempt', route: '/admin/tenants' }, 1);
      auth.mfaEnrolledUsers.set({ tenant }, 40);
      auth.users.set({ tenant }, 50);
      gateway.hits.inc({ tenant }, 20);
      gateway.rejections.inc({ tenant }, 0);
      operator.rateLimitApplied.set({ tenant }, 1);
    }
    for (let i = 0; i < 20; i++) auth.jwtValidationDuration.observe(0.004 + i * 0.001);
    auth.jwtValidationFailures.inc({ reason: 'expired' });
    for (const m of [auth, gateway]) {
      m.httpRequests.inc({ method: 'POST', route: '/login', status: '200' }, 10);
      for (let i = 0; i < 10; i++)
        m.httpDuration.observe({ method: 'POST', route: '/login', status: '200' }, 0.03);
    }
    gateway.checks.inc({ outcome: 'allowed' }, 40);
    gateway.checks.inc({ outcome: 'rejected' }, 0);
    gateway.checks.inc({ outcome: 'shadow_rejected' }, 1);
    gateway.mode.set({ mode: 'normal' }, 1);
    for (const mode of ['fail_open', 'fail_closed', 'local_fallback']) gateway.mode.set({ mode }, 0);
    gateway.apiKeyRequests.inc({ key_prefix: 'pk_smoke_01' }, 10);
    gateway.signatureFailures.inc(0);
    // Series for every reason the dashboards read; no signature failure (below the alert's threshold).
    for (const reason of ['signature_invalid', 'unknown_kid', 'alg_not_allowed'])
      gateway.jwtValidationFailures.inc({ reason }, 0);
    gateway.jwtValidationFailures.inc({ reason: 'expired' }, 1);
    for (let i = 0; i < 20; i++)
      gateway.jwtValidationDuration.observe({ cache: i % 4 === 0 ? 'miss' : 'hit' }, 0.0004 + i * 0.0002);

    const key = { namespace: 'smoke', name: 'pos-jwt' };
    const controller = 'signingkeyrotation';
    operator.reconciles.inc({ controller, result: 'success' }, 3);
    operator.reconcileErrors.inc({ controller }, 0);
    operator.reconcileTime.observe({ controller }, 0.05);
    operator.queueDepth.set({ name: controller }, 0);
    operator.queueAdds.inc({ name: controller }, 3);
    operator.queueDuration.observe({ name: controller }, 0.01);
    operator.queueRetries.inc({ name: controller }, 0);
    operator.leader.set({ name: 'novapos-operator' }, 1);
    operator.nextRotation.set(key, now + 86400);
    operator.keyAge.set({ ...key, state: 'active' }, 3600);
    operator.keyAge.set({ ...key, state: 'next' }, 600);
    operator.rotations.inc({ ...key, reason: 'schedule' }, 0);
    for (const service of ['auth-service', 'integration-gateway'])
      operator.servicesLoaded.set({ ...key, service }, 1);
    const promotion = { namespace: 'smoke', name: 'auth-to-staging' };
    operator.promotions.inc({ ...promotion, result: 'applied' }, 1);
    operator.promotionConflicts.inc(promotion, 0);
    operator.promotionLastSuccess.set(promotion, now - 60);
    const drill = { namespace: 'smoke', name: 'quarterly' };
    operator.drillLastSuccess.set(drill, now - 3600);
    for (const step of ['rotate-under-load', 'redis-outage', 'alert-delivery'])
      operator.drillStep.set({ ...drill, step }, 1);
    // A healthy audit-service: verified, caught up, retention run within its hour.
    audit.lastVerifyOk.set(1);
    for (const topic of ['audit.events.v1', 'security.mfa.activity']) audit.lag.set({ topic }, 0);
    audit.retentionInterval.set(3600);
    audit.retentionRuns.inc({ outcome: 'success' });
    audit.retentionLastSuccess.set(now - 60);
  }

  return {
    scrape: {
      'auth-service': [authServer.address],
      'integration-gateway': [gatewayServer.address],
      'novapos-operator': [operatorServer.address],
      'audit-service': [auditServer.address],
    },
    auth,
    gateway,
    operator,
    audit,
    smokeTraffic,
    async stop() {
      await Promise.all(
        servers.map(
          ({ server }) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
    },
  };
}
