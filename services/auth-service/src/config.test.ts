import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from './config.js';

const minimal = {
  VAULT_ADDR: 'http://127.0.0.1:8200',
  VAULT_TOKEN: 't',
  SIGNING_KEYSET_PATH: 'secret/novapos/signing-keys/novapos/auth-issuer',
};

describe('configFromEnv', () => {
  it('applies the runbook defaults', () => {
    const c = configFromEnv(minimal);
    expect(c.port).toBe(8085);
    expect(c.tokens).toMatchObject({ sessionIdleHours: 12, refreshTtlHours: 168, accessTtlSeconds: 900 });
    expect(c.argon2).toEqual({ memoryCost: 19_456, timeCost: 2, parallelism: 1 });
    expect(c.passwordMinLength).toBe(12);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.vault.auth).toEqual({ method: 'token', token: 't' });
  });

  it('reads Kubernetes auth settings', () => {
    const c = configFromEnv({
      ...minimal,
      VAULT_TOKEN: undefined,
      VAULT_AUTH_METHOD: 'kubernetes',
      VAULT_K8S_ROLE: 'auth-service',
    });
    expect(c.vault.auth).toMatchObject({
      method: 'kubernetes',
      role: 'auth-service',
      jwtPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    });
  });

  it.each([
    [{ ...minimal, VAULT_ADDR: '' }, /VAULT_ADDR/],
    [{ ...minimal, VAULT_AUTH_METHOD: 'kubernetes' }, /VAULT_K8S_ROLE/],
    [{ ...minimal, PASSWORD_MIN_LENGTH: '6' }, /PASSWORD_MIN_LENGTH/],
    [{ ...minimal, MFA_REQUIRED: 'maybe' }, /MFA_REQUIRED/],
    [{ ...minimal, SIGNING_KEYSET_PATH: 'secret' }, /SIGNING_KEYSET_PATH/],
  ])('names the variable that is wrong (%#)', (env, message) => {
    expect(() => configFromEnv(env)).toThrow(message);
  });

  it('never mutates the env it is given', () => {
    const env = Object.freeze({ ...minimal, CORS_ALLOWED_ORIGINS: 'https://a.test, https://b.test' });
    expect(configFromEnv(env).corsAllowedOrigins).toEqual(['https://a.test', 'https://b.test']);
  });

  it.each([
    [{ ARGON2_TIME_COST: '0' }, 'ARGON2_TIME_COST=0: must be a whole number >= 1'],
    [{ PORT: '80.5' }, 'PORT=80.5: must be a whole number >= 0'],
    [{ ALLOW_REGISTER_FIRST: 'sometimes' }, 'ALLOW_REGISTER_FIRST=sometimes: must be true or false'],
    [{ VAULT_AUTH_METHOD: 'ldap' }, 'VAULT_AUTH_METHOD must be token or kubernetes'],
  ])('a bad value is a ConfigError (invalid_config, exit 2) with one line naming it (%#)', (bad, message) => {
    let err: unknown;
    try {
      configFromEnv({ ...minimal, ...bad });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toMatchObject({ code: 'invalid_config', message });
  });

  it('trims values and treats blank as unset, as every service does (lib/service-kit/env.ts)', () => {
    const c = configFromEnv({ ...minimal, VAULT_TOKEN: ' t\n', PORT: ' ', LOG_LEVEL: ' debug ' });
    expect(c.vault.auth).toEqual({ method: 'token', token: 't' });
    expect([c.port, c.logLevel]).toEqual([8085, 'debug']);
  });
});
