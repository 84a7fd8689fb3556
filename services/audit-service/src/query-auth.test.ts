import { describe, expect, it } from 'vitest';
import { type JwtFailureReason, JwtVerificationError, type VerifiedJwt } from '../../../lib/jwks-verifier.js';
import { AuditMetrics } from './metrics.js';
import { QueryAuthError, QueryAuthorizer } from './query-auth.js';

const ADMIN_TOKEN = 'ops-admin-token-0123456789abcdef';
const USER_TOKEN = 'header.payload.signature';

const verified = (payload: Record<string, unknown>): VerifiedJwt => ({
  payload: { sub: 'u1', ...payload },
  kid: 'k1',
  alg: 'ES256',
});

function authorizer(verify: (token: string) => Promise<VerifiedJwt>) {
  const metrics = new AuditMetrics();
  const qa = new QueryAuthorizer({ verify, adminToken: ADMIN_TOKEN, roles: ['auditor'], metrics });
  const failures = async () =>
    Object.fromEntries(
      ((await metrics.jwtValidationFailures.get()).values ?? []).map((v) => [v.labels['reason'], v.value]),
    );
  const validations = async () =>
    (await metrics.jwtValidationDuration.get()).values.find(
      (v) => v.metricName === 'auth_jwt_validation_duration_seconds_count',
    )?.value ?? 0;
  return { qa, metrics, failures, validations };
}

describe('QueryAuthorizer metrics (auth_jwt_validation_*, docs/contracts.md "Fleet HTTP and token metrics")', () => {
  it('counts each refused token by its JwtVerificationError reason and times every verification', async () => {
    const reasons: JwtFailureReason[] = [
      'signature_invalid',
      'signature_invalid',
      'expired',
      'unknown_kid',
      'jwks_unavailable',
    ];
    let next = 0;
    const { qa, metrics, failures, validations } = authorizer(async () => {
      throw new JwtVerificationError(reasons[next++]!, 'refused');
    });
    for (const reason of reasons) {
      const err = await qa.authorize(`Bearer ${USER_TOKEN}`, undefined).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueryAuthError);
      expect((err as QueryAuthError).status).toBe(reason === 'jwks_unavailable' ? 503 : 401);
    }
    expect(await failures()).toEqual({
      signature_invalid: 2,
      expired: 1,
      unknown_kid: 1,
      jwks_unavailable: 1,
    });
    expect(await validations()).toBe(5);
    expect(await metrics.registry.metrics()).not.toContain(USER_TOKEN);
  });

  it('counts an unexpected verifier error as malformed, as auth-service does', async () => {
    const { qa, failures, validations } = authorizer(async () => {
      throw new TypeError('boom');
    });
    await expect(qa.authorize(`Bearer ${USER_TOKEN}`, undefined)).rejects.toMatchObject({
      code: 'token_invalid',
    });
    expect(await failures()).toEqual({ malformed: 1 });
    expect(await validations()).toBe(1);
  });

  it('times a token that verifies without counting a failure, also when the claims then refuse it', async () => {
    const { qa, failures, validations } = authorizer(async () =>
      verified({ tid: 'acme', roles: ['auditor'], amr: ['pwd'] }),
    );
    // A verified token without MFA is refused by authorization, not by validation.
    await expect(qa.authorize(`Bearer ${USER_TOKEN}`, undefined)).rejects.toMatchObject({
      code: 'mfa_required',
    });
    expect(await failures()).toEqual({});
    expect(await validations()).toBe(1);
  });

  it('the fast paths are no JWT validation: the admin token and a missing bearer count nothing', async () => {
    let calls = 0;
    const { qa, failures, validations } = authorizer(async () => {
      calls++;
      return verified({ tid: 'acme', roles: ['auditor'], amr: ['mfa'] });
    });
    await expect(qa.authorize(`Bearer ${ADMIN_TOKEN}`, 'globex')).resolves.toEqual({
      tenantId: 'globex',
      subject: 'admin-token',
    });
    await expect(qa.authorize(undefined, undefined)).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(qa.authorize('Basic abc', undefined)).rejects.toMatchObject({ code: 'unauthorized' });
    expect(calls).toBe(0);
    expect(await failures()).toEqual({});
    expect(await validations()).toBe(0);
    // A user's token does go through validation.
    await expect(qa.authorize(`Bearer ${USER_TOKEN}`, undefined)).resolves.toEqual({
      tenantId: 'acme',
      subject: 'u1',
    });
    expect(await validations()).toBe(1);
  });

  it('uses the fleet buckets of auth_jwt_validation_duration_seconds (auth-service: services/auth-service/src/metrics.ts)', async () => {
    const metrics = new AuditMetrics();
    metrics.jwtValidationDuration.observe(0.001);
    const les = (await metrics.jwtValidationDuration.get()).values
      .filter((v) => v.metricName === 'auth_jwt_validation_duration_seconds_bucket')
      .map((v) => v.labels['le']);
    expect(les).toEqual([0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, '+Inf']);
  });
});
