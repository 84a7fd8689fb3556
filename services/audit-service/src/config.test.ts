import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../lib/service-kit/env.js';
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

  it('signs heads with the Vault login of the other services: Kubernetes auth as the chart sets it, or a token', () => {
    expect(configFromEnv(base).signing).toBeUndefined();
    expect(
      configFromEnv({
        ...base,
        VAULT_ADDR: 'http://vault.vault.svc:8200',
        VAULT_AUTH_METHOD: 'kubernetes',
        VAULT_K8S_ROLE: 'audit-service',
        VAULT_K8S_TOKEN_PATH: '/var/run/secrets/vault/token',
      }).signing,
    ).toMatchObject({
      addr: 'http://vault.vault.svc:8200',
      auth: {
        method: 'kubernetes',
        role: 'audit-service',
        jwtPath: '/var/run/secrets/vault/token',
        mountPath: 'kubernetes',
      },
      transitMount: 'transit',
      key: 'novapos-audit-chain',
      kvMount: 'secret',
      path: 'novapos/audit-checkpoints',
    });
    expect(
      configFromEnv({ ...base, VAULT_ADDR: 'http://127.0.0.1:8200', VAULT_TOKEN: 'dev-root' }).signing?.auth,
    ).toEqual({ method: 'token', token: 'dev-root' });
  });

  it.each([
    [{ ADMIN_PORT: '99999' }, 'ADMIN_PORT=99999: must be a port number 0-65535'],
    [{ AUDIT_GAP_SLO_SECONDS: 'soon' }, 'AUDIT_GAP_SLO_SECONDS=soon: must be a whole number from 1 to 86400'],
    [{ AUDIT_BATCH_SIZE: '0' }, 'AUDIT_BATCH_SIZE=0: must be a whole number from 1 to 5000'],
    [{ AUDIT_JWKS_URL: 'jwks.json' }, 'AUDIT_JWKS_URL=jwks.json: must be an http(s) URL'],
    [{ VAULT_ADDR: 'http://bao:8200' }, 'VAULT_TOKEN is required when VAULT_AUTH_METHOD=token'],
    [
      { VAULT_ADDR: 'http://bao:8200', VAULT_AUTH_METHOD: 'kubernetes' },
      'VAULT_K8S_ROLE is required when VAULT_AUTH_METHOD=kubernetes',
    ],
    [{ AUDIT_ADMIN_TOKEN: 'short' }, 'AUDIT_ADMIN_TOKEN must be at least 24 characters'],
  ])(
    "refuses a bad value with the service kit's ConfigError, one line naming the variable (%o)",
    (bad, message) => {
      const read = () => configFromEnv({ ...base, ...bad });
      expect(read).toThrow(ConfigError);
      expect(read).toThrow(message);
    },
  );
});
