import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { faultKey } from '../../lib/ratelimit-contract.js';
import type { Bucket } from '../../services/integration-gateway/src/domain/limits.js';
import { bucketKey, RedisLimiter } from '../../services/integration-gateway/src/limiter/redis-limiter.js';

/** gcra.lua on the shared Redis (keys unique to this suite): the same decisions as domain/gcra.ts. */
describe('gcra.lua', () => {
  const env = inject('env');
  const id = randomBytes(3).toString('hex');
  let redis: Redis;
  let limiter: RedisLimiter;
  const tenantBucket = (rpm: number, burst: number): Bucket => ({
    policy: 'tenant',
    id: `lua-${id}`,
    limit: { requestsPerMinute: rpm, burst },
  });

  beforeAll(() => {
    redis = new Redis(env.redisUrl!);
    limiter = new RedisLimiter(redis);
  });
  afterAll(() => redis.disconnect());

  it('lets exactly requestsPerMinute + burst through from a full bucket, then tells when to retry', async () => {
    const results = [];
    for (let i = 0; i < 15; i++) results.push(await limiter.check(`t-${id}`, [tenantBucket(1, 9)]));
    expect(results.filter((r) => r.status === 'allowed')).toHaveLength(10);
    const last = results.at(-1)!;
    expect(last).toMatchObject({ status: 'rejected', bucket: 0, remaining: 0 });
    // One request a minute: the next is about 60 s away.
    expect(last.status === 'rejected' && last.retryAfterMs).toBeGreaterThan(55_000);
  });

  it('keeps the used requests when the limit changes, counted at the new rate', async () => {
    // 10 of a 1-per-minute bucket used: at 600/min those 10 are 1 s of debt, far below the new capacity.
    expect((await limiter.check(`t-${id}`, [tenantBucket(600, 0)])).status).toBe('allowed');
    // The bucket is one string "<tat> <interval>" under the tenant's hash tag.
    const state = (await redis.get(bucketKey(`t-${id}`, `lua-${id}`)))!.split(' ');
    expect(state[1]).toBe('100');
    expect(Number(state[0])).toBeGreaterThan(Date.now() - 5000);
  });

  it('charges no bucket when one of them rejects', async () => {
    const tenant: Bucket = {
      policy: 'tenant',
      id: `multi-${id}`,
      limit: { requestsPerMinute: 600, burst: 0 },
    };
    const route: Bucket = {
      policy: 'route',
      id: `multi-${id}:route:/x`,
      limit: { requestsPerMinute: 1, burst: 0 },
    };
    expect((await limiter.check(`m-${id}`, [tenant, route])).status).toBe('allowed');
    const rejected = await limiter.check(`m-${id}`, [tenant, route]);
    expect(rejected).toMatchObject({ status: 'rejected', bucket: 1 });
    const before = await redis.get(bucketKey(`m-${id}`, tenant.id));
    await limiter.check(`m-${id}`, [tenant, route]);
    expect(await redis.get(bucketKey(`m-${id}`, tenant.id))).toBe(before);
  });

  it('answers fault while the tenant fault key exists, charging nothing', async () => {
    await redis.set(faultKey(`f-${id}`), '1', 'PX', 5000);
    expect(
      await limiter.check(`f-${id}`, [
        { policy: 'tenant', id: `f-${id}`, limit: { requestsPerMinute: 1, burst: 0 } },
      ]),
    ).toEqual({ status: 'fault' });
    expect(await redis.exists(bucketKey(`f-${id}`))).toBe(0);
    await redis.del(faultKey(`f-${id}`));
  });

  it('keeps a fast bucket exact: the stored arrival time is not rounded (0.06 ms per request)', async () => {
    const fast: Bucket = {
      policy: 'tenant',
      id: `fast-${id}`,
      limit: { requestsPerMinute: 1_000_000, burst: 0 },
    };
    const key = bucketKey(`fast-${id}`);
    // A debt of 60 ms first, so the next check starts from the stored time, not from now.
    await limiter.check(`fast-${id}`, [fast], 1000);
    const first = Number((await redis.get(key))!.split(' ')[0]);
    await limiter.check(`fast-${id}`, [fast]);
    const second = Number((await redis.get(key))!.split(' ')[0]);
    // Within a double's resolution at today's epoch ms (2^-12); Lua's %.14g would give 0 or 0.1.
    expect(second - first).toBeCloseTo(0.06, 3);
  });

  it('decides checks made together in one call, one after the other, exactly as separate calls', async () => {
    // Every EVALSHA/EVAL naming this test's keys, seen by the real Redis (MONITOR).
    const monitor = await redis.monitor();
    const calls: string[] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (/^eval/i.test(args[0] ?? '') && args.some((a) => a.includes(`together-${id}`)))
        calls.push(args[0]!);
    });
    const bucket: Bucket = {
      policy: 'tenant',
      id: `together-${id}`,
      limit: { requestsPerMinute: 1, burst: 9 },
    };
    const results = await Promise.all(
      Array.from({ length: 15 }, () => limiter.check(`together-${id}`, [bucket])),
    );
    // In the callers' order: the first 10 take the bucket down to 0, the other 5 wait about a minute.
    expect(results.map((r) => r.status)).toEqual([
      ...Array(10).fill('allowed'),
      ...Array(5).fill('rejected'),
    ]);
    expect(results.slice(0, 10).map((r) => r.status !== 'fault' && r.remaining)).toEqual([
      9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    ]);
    const last = results.at(-1)!;
    expect(last.status === 'rejected' && last.retryAfterMs).toBeGreaterThan(55_000);
    await new Promise((r) => setTimeout(r, 200));
    monitor.disconnect();
    expect(calls).toHaveLength(1);
    // The bucket holds ten requests' worth of debt: the next check alone is rejected too.
    expect((await limiter.check(`together-${id}`, [bucket])).status).toBe('rejected');
  });

  it('answers each check of one call for its own tenant: a fault, a rejection and an allowed check', async () => {
    await redis.set(faultKey(`mixf-${id}`), '1', 'PX', 5000);
    const one = (t: string, rpm: number): Bucket[] => [
      { policy: 'tenant', id: t, limit: { requestsPerMinute: rpm, burst: 0 } },
    ];
    const [fault, first, second, other] = await Promise.all([
      limiter.check(`mixf-${id}`, one(`mixf-${id}`, 1)),
      limiter.check(`mixa-${id}`, one(`mixa-${id}`, 1)),
      limiter.check(`mixa-${id}`, one(`mixa-${id}`, 1)),
      limiter.check(`mixb-${id}`, one(`mixb-${id}`, 600)),
    ]);
    expect(fault).toEqual({ status: 'fault' });
    expect(first).toMatchObject({ status: 'allowed', remaining: 0 });
    expect(second).toMatchObject({ status: 'rejected', bucket: 0 });
    expect(other).toMatchObject({ status: 'allowed', remaining: 599 });
    expect(await redis.exists(bucketKey(`mixf-${id}`))).toBe(0);
    // Charged once (the rejected check charged nothing): one interval of debt, 60 s at 1/min.
    expect(await redis.pttl(bucketKey(`mixa-${id}`))).toBeGreaterThan(55_000);
    expect(await redis.pttl(bucketKey(`mixa-${id}`))).toBeLessThanOrEqual(61_000);
    await redis.del(faultKey(`mixf-${id}`));
  });
});
