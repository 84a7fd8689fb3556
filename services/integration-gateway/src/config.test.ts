import { describe, expect, it } from 'vitest';
import { ConfigError as KitConfigError } from '../../../lib/service-kit/env.js';
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

  it.each([
    [{ GATEWAY_RATE_LIMIT_RPM: '0' }, 'GATEWAY_RATE_LIMIT_RPM=0: must be a whole number >= 1'],
    [{ GATEWAY_RATE_LIMIT_RPM: '1e3' }, 'GATEWAY_RATE_LIMIT_RPM=1e3: must be a whole number >= 1'],
    [{ PORT: '80800' }, 'PORT=80800: must be a port number 0-65535'],
    [
      { GATEWAY_REDIS_FAILURE_MODE: 'maybe' },
      'GATEWAY_REDIS_FAILURE_MODE=maybe: must be one of failOpen, failClosed, localFallback',
    ],
    [{ JWKS_URL: 'not a url' }, 'JWKS_URL=not a url: must be an http(s) URL'],
    [{ REDIS_URL: 'http://cache:6379' }, 'REDIS_URL=[redacted]: must be a redis: or rediss: URL'],
    [
      { DATABASE_URL: 'mysql://u:pw@db/x' },
      'DATABASE_URL=[redacted]: must be a postgres: or postgresql: URL',
    ],
    [
      { GATEWAY_UPSTREAM_TIMEOUT_MS: 'soon' },
      'GATEWAY_UPSTREAM_TIMEOUT_MS=soon: must be a whole number >= 1',
    ],
  ])('refuses a value it cannot use with one line naming the variable (%o)', (env, message) => {
    const read = () => configFromEnv(env);
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(message);
  });

  it("throws the service kit's ConfigError, the one runService exits 2 on", () => {
    expect(ConfigError).toBe(KitConfigError);
    expect(() => configFromEnv({ KAFKA_BOOTSTRAP: 'kafka:9092' })).toThrow(KitConfigError);
  });

  it('reads Redis and PostgreSQL URLs of their own schemes', () => {
    const c = configFromEnv({
      REDIS_URL: 'rediss://:pw@cache:6380/2',
      DATABASE_URL: 'postgresql://gw@db/novapos',
    });
    expect(c.redisUrl).toBe('rediss://:pw@cache:6380/2');
    expect(c.databaseUrl).toBe('postgresql://gw@db/novapos');
    expect(configFromEnv({}).redisUrl).toBe('redis://127.0.0.1:6379/0');
  });

  it('serves /metrics and the admin routes on ADMIN_PORT, 9083 by default', () => {
    expect(configFromEnv({}).adminPort).toBe(9083);
    expect(configFromEnv({ ADMIN_PORT: '19083' }).adminPort).toBe(19083);
    expect(() => configFromEnv({ ADMIN_PORT: 'x' })).toThrow('ADMIN_PORT=x: must be a port number 0-65535');
  });

  it('takes the upstream as an origin only', () => {
    expect(configFromEnv({ GATEWAY_UPSTREAM_URL: 'http://orders:8080/' }).upstreamUrl).toBe(
      'http://orders:8080',
    );
    for (const bad of ['http://orders:8080/base', 'http://u:p@orders', 'ftp://orders', 'http://orders/?a=1'])
      expect(() => configFromEnv({ GATEWAY_UPSTREAM_URL: bad })).toThrow(
        /GATEWAY_UPSTREAM_URL=.*: must be an http\(s\) (origin|URL)/,
      );
  });

  it('reads route and role scopes, refusing malformed ones; default: no role holds a scope', () => {
    const c = configFromEnv({ GATEWAY_ROUTE_SCOPES: 'GET /api/x=x:read', GATEWAY_ROLE_SCOPES: 'admin=*' });
    expect(c.scopes.routes).toEqual([{ method: 'GET', pathPrefix: '/api/x', scope: 'x:read' }]);
    expect(c.scopes.roles.get('admin')).toEqual(['*']);
    expect(configFromEnv({}).scopes.roles.size).toBe(0);
    expect(() => configFromEnv({ GATEWAY_ROUTE_SCOPES: '/x=y' })).toThrow(ConfigError);
  });

  it('uses a Redis Cluster when REDIS_CLUSTER_NODES lists seed nodes, and says what is wrong with a bad list', () => {
    expect(configFromEnv({}).redisClusterNodes).toBeUndefined();
    expect(
      configFromEnv({ REDIS_CLUSTER_NODES: 'redis-0.redis:6379,redis-1.redis:6379' }).redisClusterNodes,
    ).toEqual([
      { host: 'redis-0.redis', port: 6379 },
      { host: 'redis-1.redis', port: 6379 },
    ]);
    expect(() => configFromEnv({ REDIS_CLUSTER_NODES: 'redis://redis-0:6379' })).toThrow(ConfigError);
    expect(() => configFromEnv({ REDIS_CLUSTER_NODES: 'redis-0' })).toThrow(/REDIS_CLUSTER_NODES.*host:port/);
  });
});
