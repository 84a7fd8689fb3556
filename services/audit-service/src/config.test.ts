import { describe, expect, it } from 'vitest';
import { configFromEnv } from './config.js';

const base = {
  DATABASE_URL: 'postgres://a@b/c',
  KAFKA_BOOTSTRAP: 'k:9092',
  KAFKA_USERNAME: 'audit-service',
  KAFKA_PASSWORD: 'pw',
};

describe('audit-service config', () => {
  it('reads the defaults: admin port 9087, the three security topics, a 60 s gap SLO', () => {
    const c = configFromEnv(base);
    expect(c.adminPort).toBe(9087);
    expect(c.topics).toEqual(['audit.events.v1', 'security.mfa.activity', 'security.alerts.v1']);
    expect(c.gapSloSeconds).toBe(60);
    expect(c.consumerGroup).toBe('audit-service');
    expect(c.retentionDays).toBe(2555);
    expect(c.queryAuth).toBeUndefined(); // no JWKS: only the admin token reads the log
    expect(
      configFromEnv({ ...base, AUDIT_JWKS_URL: 'http://auth:8085/.well-known/jwks.json' }).queryAuth,
    ).toMatchObject({
      roles: ['auditor', 'admin'],
      audience: 'novapos-api',
    });
  });

  it('follows the runbook topic names and refuses a missing database or Kafka', () => {
    expect(configFromEnv({ ...base, SECURITY_ALERT_TOPIC: 'alerts.x' }).topics).toContain('alerts.x');
    expect(() => configFromEnv({ ...base, DATABASE_URL: '' })).toThrow(/DATABASE_URL is required/);
    expect(() => configFromEnv({ ...base, KAFKA_BOOTSTRAP: '' })).toThrow(/KAFKA_BOOTSTRAP is required/);
    expect(() => configFromEnv({ ...base, AUDIT_GAP_SLO_SECONDS: 'soon' })).toThrow(/AUDIT_GAP_SLO_SECONDS/);
  });
});
