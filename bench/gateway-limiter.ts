// Integration gateway limiter and end-to-end throughput: `npx tsx bench/gateway-limiter.ts` (`--seconds 3`).
// Starts a private Redis and measures, each for a few seconds with the same concurrency:
//   1. the gateway's limiter (one EVALSHA of gcra.lua per check, ioredis) — checks/s and p50/p99;
//   2. rate-limiter-flexible's RateLimiterRedis (its own Lua script, ioredis) — the same figures;
//   3. redis-benchmark running the same EVALSHA — the ceiling of one Redis for this script;
//   4. the whole gateway (JWT verification, limiter, response) with autocannon on /api/tenant/ping.
// The JWKS in (4) is served by a small local server built on jose (no auth-service, Vault or PostgreSQL
// needed for a throughput figure). Figures go to stdout and bench/results/gateway.json.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { faultKey } from '../lib/ratelimit-contract.js';
import { configFromEnv } from '../services/integration-gateway/src/config.js';
import { capacityOf, intervalMs } from '../services/integration-gateway/src/domain/gcra.js';
import {
  bucketKey,
  GCRA_SCRIPT,
  RedisLimiter,
} from '../services/integration-gateway/src/limiter/redis-limiter.js';
import { limiterRedisOptions, startGateway } from '../services/integration-gateway/src/server.js';
import { startRedis } from '../test/harness/components/redis.js';

const run = promisify(execFile);
const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 3;
const CONCURRENCY = 64;
const TENANTS = 100;
const LIMIT = { requestsPerMinute: 1_000_000, burst: 0 };

interface LoopResult {
  readonly opsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ops: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** `CONCURRENCY` callers each awaiting `op` back to back for `SECONDS`. */
async function closedLoop(op: (i: number) => Promise<unknown>): Promise<LoopResult> {
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  let i = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await op(i++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    ops: latencies.length,
    opsPerSecond: Math.round(latencies.length / elapsed),
    p50Ms: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'novapos-bench-gateway-'));
  mkdirSync(path.join(dir, 'logs'), { recursive: true });
  const redisServer = await startRedis(dir);
  const redis = new Redis(redisServer.url, limiterRedisOptions(2000));
  await new Promise((r) => redis.once('ready', r));
  try {
    // 1. The gateway's limiter.
    const limiter = new RedisLimiter(redis);
    const bucket = (i: number) => [{ policy: 'tenant' as const, id: `bench-${i % TENANTS}`, limit: LIMIT }];
    await limiter.check('bench-0', bucket(0));
    const ours = await closedLoop((i) => limiter.check(`bench-${i % TENANTS}`, bucket(i)));
    console.log(
      `gateway limiter (gcra.lua, EVALSHA):   ${ours.opsPerSecond} checks/s  p50 ${ours.p50Ms} ms  p99 ${ours.p99Ms} ms`,
    );

    // 2. rate-limiter-flexible's Redis limiter, same client, same concurrency.
    const flexible = new RateLimiterRedis({
      storeClient: redis,
      points: 1_000_000,
      duration: 60,
      keyPrefix: 'bench-rlf',
    });
    const theirs = await closedLoop((i) => flexible.consume(`t${i % TENANTS}`));
    console.log(
      `rate-limiter-flexible RateLimiterRedis: ${theirs.opsPerSecond} checks/s  p50 ${theirs.p50Ms} ms  p99 ${theirs.p99Ms} ms`,
    );

    // 3. redis-benchmark running the same script: what one Redis can do for it.
    const sha = (await redis.script('LOAD', GCRA_SCRIPT)) as string;
    const n = 100_000;
    const { stdout } = await run('redis-benchmark', [
      '-h',
      '127.0.0.1',
      '-p',
      String(redisServer.port),
      '-n',
      String(n),
      '-c',
      String(CONCURRENCY),
      '--csv',
      'EVALSHA',
      sha,
      '2',
      faultKey('bench-rb'),
      bucketKey('bench-rb'),
      '1',
      String(intervalMs(LIMIT)),
      String(capacityOf(LIMIT)),
    ]);
    const row = stdout
      .trim()
      .split('\n')
      .at(-1)!
      .split(',')
      .map((c) => c.replace(/"/g, ''));
    const ceiling = {
      opsPerSecond: Math.round(Number(row[1])),
      p50Ms: Number(row[4]),
      p99Ms: Number(row[6]),
      ops: n,
    };
    console.log(
      `redis-benchmark EVALSHA gcra.lua:       ${ceiling.opsPerSecond} checks/s  p50 ${ceiling.p50Ms} ms  p99 ${ceiling.p99Ms} ms`,
    );

    // 4. The gateway end to end.
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
    const jwks = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('cache-control', 'max-age=300');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    const token = await new SignJWT({ tid: 'bench-tenant', roles: ['user'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
      .setIssuer('https://auth.novapos.local')
      .setAudience('novapos-api')
      .setSubject('bench-user')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
    const gateway = await startGateway(
      configFromEnv({
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        REDIS_URL: redisServer.url,
        JWKS_URL: jwksUrl,
        GATEWAY_RATE_LIMIT_RPM: '1000000',
      }),
      { logDestination: { write: () => true } as never },
    );
    let e2e: { requestsPerSecond: number; p50Ms: number; p99Ms: number; non2xx: number; requests: number };
    try {
      const result = await autocannon({
        url: `${gateway.url}/api/tenant/ping`,
        headers: { authorization: `Bearer ${token}` },
        connections: CONCURRENCY,
        duration: SECONDS,
      });
      e2e = {
        requestsPerSecond: Math.round(result.requests.average),
        p50Ms: result.latency.p50,
        p99Ms: result.latency.p99,
        non2xx: result.non2xx,
        requests: result.requests.total,
      };
      console.log(
        `gateway end to end (autocannon, ping):   ${e2e.requestsPerSecond} req/s  p50 ${e2e.p50Ms} ms  p99 ${e2e.p99Ms} ms  non-2xx ${e2e.non2xx}`,
      );
    } finally {
      await gateway.close();
      jwks.close();
    }

    const results = {
      measuredAt: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        node: process.version,
        loadAverage1m: Math.round(loadavg()[0]! * 10) / 10,
      },
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      tenants: TENANTS,
      limiter: { gatewayGcraLua: ours, rateLimiterFlexibleRedis: theirs, redisBenchmarkCeiling: ceiling },
      gatewayEndToEnd: e2e,
      note: 'Short runs on a shared 2-core machine (see loadAverage1m: other work was running), client and server on the same cores: compare side by side, not as absolute capacity.',
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/gateway.json', `${JSON.stringify(results, null, 2)}\n`);
    console.log('written bench/results/gateway.json');
  } finally {
    redis.disconnect();
    await redisServer.process.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
