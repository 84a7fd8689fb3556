import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric of auth-service, on its own registry. Names from the runbooks (000, 001, 002) and
 * docs/contracts.md. Labels are bounded: `tenant` is an existing tenant id or `unknown`, `outcome`,
 * `route`, `reason` and `rule` come from fixed lists in the code, never from input.
 */
/** Login outcomes the alert rules and dashboards count per tenant. */
const ALERTED_LOGIN_OUTCOMES = [
  'success',
  'invalid_credentials',
  'mfa_required',
  'mfa_invalid',
  'locked',
] as const;

export function createMetrics(
  opts: { usersByTenant?: () => Promise<{ tenantId: string; users: number; mfaEnrolled: number }[]> } = {},
) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // One database read serves every collector of a scrape.
  let cached:
    | { at: number; rows: Promise<{ tenantId: string; users: number; mfaEnrolled: number }[]> }
    | undefined;
  const readUsers = () => {
    if (!opts.usersByTenant) return Promise.resolve([]);
    if (!cached || Date.now() - cached.at > 1_000) cached = { at: Date.now(), rows: opts.usersByTenant() };
    return cached.rows;
  };

  const m = {
    registry,
    loginAttempts: new Counter({
      name: 'auth_login_attempts_total',
      help: 'Login attempts by outcome (success, invalid_credentials, mfa_required, mfa_invalid, mfa_enrollment_required, locked, rate_limited, invalid_request, error).',
      labelNames: ['tenant', 'outcome'] as const,
      registers: [registry],
      // Every tenant's alerted series exist from the start at 0. A counter born at its first failure starts
      // at the burst's size and increase() cannot see that burst: the failed-login alerts missed a first
      // attack on a tenant (seen on the local stack: 60 failures, increase 0).
      async collect() {
        for (const t of await readUsers())
          for (const outcome of ALERTED_LOGIN_OUTCOMES) this.inc({ tenant: t.tenantId, outcome }, 0);
      },
    }),
    mfaEvents: new Counter({
      name: 'auth_mfa_events_total',
      help: 'MFA events by outcome (success, mfa_required, mfa_invalid, replay, recovery_code_used, enrollment_started, enrolled, bypass_attempt, invalid_credentials, locked, not_enrolled, refused_by_policy, recovery_codes_regenerated, disabled) and route.',
      labelNames: ['tenant', 'outcome', 'route'] as const,
      registers: [registry],
      async collect() {
        for (const t of await readUsers())
          this.inc({ tenant: t.tenantId, outcome: 'mfa_invalid', route: '/login' }, 0);
      },
    }),
    passwordChanges: new Counter({
      name: 'auth_password_changes_total',
      help: 'POST /password/change by outcome (success, invalid_credentials, locked, rate_limited, weak_password, unchanged).',
      labelNames: ['tenant', 'outcome'] as const,
      registers: [registry],
    }),
    jwtValidationFailures: new Counter({
      name: 'auth_jwt_validation_failures_total',
      help: 'Access tokens rejected by auth-service, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    jwtValidationDuration: new Histogram({
      name: 'auth_jwt_validation_duration_seconds',
      help: 'Time to validate an access token (SLO: 99.5% under 200 ms).',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1],
      registers: [registry],
    }),
    tokensIssued: new Counter({
      name: 'auth_tokens_issued_total',
      help: 'Access tokens issued, by grant (password, refresh, mfa_enrollment).',
      labelNames: ['grant'] as const,
      registers: [registry],
    }),
    refreshTokenReuse: new Counter({
      name: 'auth_refresh_token_reuse_total',
      help: 'Refresh tokens presented again after use; each revokes its session family.',
      registers: [registry],
    }),
    accountLockouts: new Counter({
      name: 'auth_account_lockouts_total',
      help: 'Accounts locked after repeated failures.',
      labelNames: ['tenant'] as const,
      registers: [registry],
    }),
    suspiciousLogins: new Counter({
      name: 'auth_suspicious_login_total',
      help: 'Suspicious-login rule matches, by rule.',
      labelNames: ['rule'] as const,
      registers: [registry],
    }),
    suspiciousWebhooks: new Counter({
      name: 'auth_suspicious_webhook_total',
      help: 'Suspicious-login webhooks by result (sent, failed, suppressed, disabled).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    keysetReloads: new Counter({
      name: 'auth_signing_keyset_reloads_total',
      help: 'Key-set loads from Vault by result (changed, unchanged, failed).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    keysetLoadedTimestamp: new Gauge({
      name: 'auth_signing_keyset_loaded_timestamp_seconds',
      help: 'When the key set in use was loaded.',
      registers: [registry],
    }),
    httpRequests: new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by method and route pattern.',
      labelNames: ['method', 'route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };

  new Gauge({
    name: 'auth_users',
    help: 'Users per tenant.',
    labelNames: ['tenant'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const t of await readUsers()) this.set({ tenant: t.tenantId }, t.users);
    },
  });
  new Gauge({
    name: 'auth_mfa_enrolled_users',
    help: 'Users with MFA enrolled, per tenant.',
    labelNames: ['tenant'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const t of await readUsers()) this.set({ tenant: t.tenantId }, t.mfaEnrolled);
    },
  });
  return m;
}

export type AuthMetrics = ReturnType<typeof createMetrics>;
