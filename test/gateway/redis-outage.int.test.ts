import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LimitDocument, RedisFailureMode } from '../../lib/ratelimit-contract.js';
import { RedisLimitPublisher } from '../../operator/src/adapters/redis/index.js';
import { startRedis } from '../harness/components/redis.js';
import { type Env, startEnv } from '../harness/env.js';
import { waitUntil } from '../harness/wait.js';
import {
  type AuthFixture,
  count,
  drive,
  metricValue,
  startAuth,
  startTestGateway,
  type TestGateway,
} from './support.js';

/**
 * Redis killed and restarted under traffic, on a private Redis (the shared one is never broken): each
 * tenant's redisFailureMode does what it says, the gateway does not crash, and limiting in Redis resumes.
 */
describe('integration-gateway: Redis outage', () => {
  const shared = inject('env');
  const suffix = randomBytes(3).toString('hex');
  const tenants: Record<RedisFailureMode, string> = {
    failOpen: `open-${suffix}`,
    failClosed: `closed-${suffix}`,
    localFallback: `local-${suffix}`,
  };
  let env: Env;
  let auth: AuthFixture;
  let gateway: TestGateway;
  let publisher: RedisLimitPublisher;
  const tokens: Record<string, string> = {};

  const doc = (mode: RedisFailureMode): LimitDocument => ({
    tenant: tenants[mode],
    generation: 1,
    requestsPerMinute: 600,
    burst: 0,
    routes: [],
    apiKeys: [],
    enforcement: 'enforce',
    redisFailureMode: mode,
    ...(mode === 'localFallback' ? { localFallback: { requestsPerMinute: 1, burst: 4 } } : {}),
    source: { namespace: 'test', name: mode, uid: `uid-${mode}` },
    publishedAt: new Date().toISOString(),
  });
  const ping = (mode: RedisFailureMode) =>
    fetch(`${gateway.url}/api/tenant/ping`, { headers: { authorization: `Bearer ${tokens[mode]}` } });

  beforeAll(async () => {
    env = await startEnv({ redis: true, label: 'gateway-outage' });
    auth = await startAuth(shared, `outage-${suffix}`);
    gateway = await startTestGateway({
      REDIS_URL: env.redis!.url,
      DATABASE_URL: auth.databaseUrl,
      JWKS_URL: auth.jwksUrl,
      GATEWAY_REPLICA_ID: `gw-outage-${suffix}`,
      GATEWAY_REDIS_COMMAND_TIMEOUT_MS: '200',
    });
    publisher = new RedisLimitPublisher(env.redis!.url);
    await publisher.ready();
    for (const mode of Object.keys(tenants) as RedisFailureMode[]) {
      await publisher.publish(doc(mode));
      tokens[mode] = await auth.token(tenants[mode]);
    }
    await waitUntil(
      'gateway applied the three tenants',
      () => Object.values(tenants).every((t) => gateway.configStore.get(t).generation === 1),
      { timeoutMs: 3000 },
    );
  });

  afterAll(async () => {
    await publisher?.close();
    await gateway?.close();
    await auth?.close();
    await env?.stop();
  });

  it('fails open, fails closed or limits in process per tenant while Redis is down, then resumes in Redis', async () => {
    for (const mode of Object.keys(tenants) as RedisFailureMode[])
      expect((await ping(mode)).status).toBe(200);

    // Background traffic for the whole outage: every answer must be an HTTP answer (no crash, no hang).
    const background: number[] = [];
    let stop = false;
    const traffic = (async () => {
      while (!stop) {
        const res = await ping('failOpen').catch(() => undefined);
        background.push(res?.status ?? 0);
        await res?.arrayBuffer();
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    try {
      await env.redis!.process.crash();
      const open = await drive(
        gateway.url,
        '/api/tenant/ping',
        { authorization: `Bearer ${tokens['failOpen']}` },
        10,
        2,
      );
      const closed = await drive(
        gateway.url,
        '/api/tenant/ping',
        { authorization: `Bearer ${tokens['failClosed']}` },
        10,
        2,
      );
      const local = await drive(
        gateway.url,
        '/api/tenant/ping',
        { authorization: `Bearer ${tokens['localFallback']}` },
        10,
        1,
      );
      expect(count(open.statuses, 200)).toBe(10);
      expect(count(closed.statuses, 503)).toBe(10);
      // 1 rpm + burst 4 per replica: a bucket of five, refilled once a minute.
      expect(count(local.statuses, 200)).toBe(5);
      expect(count(local.statuses, 429)).toBe(5);
      for (const mode of ['fail_open', 'fail_closed', 'local_fallback']) {
        expect(await metricValue(gateway.adminUrl, 'gateway_rate_limit_mode', { mode })).toBe(1);
      }
      expect(
        await metricValue(gateway.adminUrl, 'gateway_rate_limit_checks_total', { outcome: 'error' }),
      ).toBeGreaterThanOrEqual(20);
      expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);

      // Redis back on the same port, empty (no persistence).
      const restartedAt = performance.now();
      const dir = path.join(env.dir, 'redis-restarted');
      await mkdir(dir, { recursive: true });
      const redis = await startRedis(dir, env.redis!.port);
      try {
        const resumed = await waitUntil(
          'limiting in Redis again for the fail-closed tenant',
          async () => {
            const res = await ping('failClosed');
            const body = (await res.json()) as { limiter?: string };
            return res.status === 200 && body.limiter === 'normal' ? performance.now() : undefined;
          },
          { timeoutMs: 5000, intervalMs: 20 },
        );
        process.stderr.write(
          `[gateway outage] limiting in Redis resumed ${(resumed - restartedAt).toFixed(0)} ms after Redis was back (start included)\n`,
        );
        // The restarted Redis lost the config keys; the gateway keeps the last known limits meanwhile.
        expect(gateway.configStore.get(tenants.localFallback).redisFailureMode).toBe('localFallback');
        expect(gateway.configStore.get(tenants.failClosed).fromResource).toBe(true);
        // Back in Redis (an empty one): the tenant's own limit of 600 rpm applies again, not the fallback.
        expect((await ping('localFallback')).status).toBe(200);
        for (const mode of ['fail_open', 'fail_closed', 'local_fallback']) {
          expect(await metricValue(gateway.adminUrl, 'gateway_rate_limit_mode', { mode })).toBe(0);
        }
        expect(await metricValue(gateway.adminUrl, 'gateway_rate_limit_mode', { mode: 'normal' })).toBe(3);
      } finally {
        stop = true;
        await traffic;
        await redis.process.stop();
      }
      expect(background.length).toBeGreaterThan(10);
      expect(background.filter((s) => s !== 200)).toEqual([]);
    } finally {
      stop = true;
      await traffic;
    }
  });

  it('failed-authentication budgets follow the failure mode while Redis is down', async () => {
    // Redis is down after the test above. The gateway's default mode is failOpen: failures are counted in
    // its memory with the same budget (30 per address), so wrong keys still end in 429 before any verify.
    // A different key each time: a key already refused is remembered and costs nothing anyway.
    const base32 = (n: number) =>
      Array.from(randomBytes(n), (b) => 'abcdefghijklmnopqrstuvwxyz234567'[b % 32]).join('');
    const wrong = () => ({ 'x-api-key': `npk_${base32(12)}_${base32(32)}` });
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++) {
      const res = await fetch(`${gateway.url}/api/tenant/ping`, { headers: wrong() });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);

    // A gateway whose default is failClosed does not verify an unknown credential it cannot count.
    const closed = await startTestGateway({
      REDIS_URL: env.redis!.url,
      DATABASE_URL: auth.databaseUrl,
      JWKS_URL: auth.jwksUrl,
      GATEWAY_REPLICA_ID: `gw-outage-closed-${suffix}`,
      GATEWAY_REDIS_FAILURE_MODE: 'failClosed',
      GATEWAY_REDIS_COMMAND_TIMEOUT_MS: '200',
    });
    try {
      const res = await fetch(`${closed.url}/api/tenant/ping`, { headers: wrong() });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('auth_unavailable');
    } finally {
      await closed.close();
    }
  });
});
