import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from './config.js';

describe('configFromEnv', () => {
  it('has the runbook defaults: port 8083, GATEWAY_RATE_LIMIT_RPM for tenants without a resource', () => {
    const c = configFromEnv({ GATEWAY_RATE_LIMIT_RPM: '120' });
    expect(c.port).toBe(8083);
    expect(c.limits).toMatchObject({
      defaultRequestsPerMinute: 120,
      defaultBurst: 0,
      defaultRedisFailureMode: 'failOpen',
      defaultLocalFallbackRpm: 120,
    });
    expect(c.usage).toMatchObject({ flushSeconds: 300, summarySeconds: 3600, auditTopic: 'audit.events.v1' });
    expect(c.apiKeys.revalidateSeconds).toBe(30);
  });

  it('reads tenants for metric labels as a list', () => {
    expect(configFromEnv({ GATEWAY_METRIC_TENANTS: 'acme, globex,' }).metricTenants).toEqual([
      'acme',
      'globex',
    ]);
  });

  it('refuses values it cannot use, naming the variable', () => {
    expect(() => configFromEnv({ GATEWAY_RATE_LIMIT_RPM: '0' })).toThrow(ConfigError);
    expect(() => configFromEnv({ GATEWAY_REDIS_FAILURE_MODE: 'maybe' })).toThrow(
      /GATEWAY_REDIS_FAILURE_MODE/,
    );
    expect(() => configFromEnv({ JWKS_URL: 'not a url' })).toThrow(/JWKS_URL/);
  });
});
