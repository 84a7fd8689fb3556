import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

describe('auth-service metrics', () => {
  it("start every tenant's alerted login and MFA series at 0, so the first burst of failures is counted", async () => {
    const m = createMetrics({ usersByTenant: async () => [{ tenantId: 'acme', users: 3, mfaEnrolled: 1 }] });
    const text = await m.registry.metrics();
    expect(text).toContain('auth_login_attempts_total{tenant="acme",outcome="invalid_credentials"} 0');
    expect(text).toContain('auth_mfa_events_total{tenant="acme",outcome="mfa_invalid",route="/login"} 0');
    expect(text).toContain('auth_users{tenant="acme"} 3');
  });

  it('keeps counting on top of the zeroed series', async () => {
    const m = createMetrics({ usersByTenant: async () => [{ tenantId: 'acme', users: 1, mfaEnrolled: 0 }] });
    await m.registry.metrics();
    m.loginAttempts.inc({ tenant: 'acme', outcome: 'invalid_credentials' });
    await m.registry.metrics();
    expect(await m.registry.metrics()).toContain(
      'auth_login_attempts_total{tenant="acme",outcome="invalid_credentials"} 1',
    );
  });
});
